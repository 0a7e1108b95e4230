# Multi-stage build: compile with the Swift toolchain image (hack/build-release.sh: release,
# every function in its own section so that the linker drops unused ones), ship a slim Debian
# runtime holding the stripped binary. With the Swift runtime linked statically the binary loads only
# libc, libm, libstdc++, libgcc_s and zlib, all part of the slim base image, plus libseccomp,
# libapparmor, libsemanage (with libselinux and libsepol) and libbpf (with libelf), which loads
# the bpf recorder's eBPF program; apparmor_parser compiles AppArmorProfiles on the node.

ARG SWIFT_IMAGE=swift:6.3.1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      pkg-config libseccomp-dev libapparmor-dev libselinux1-dev libsemanage-dev libbpf-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN install -D -s "$(hack/build-release.sh)" /out/security-profiles-operator

FROM ${RUNTIME_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates libseccomp2 libapparmor1 libsemanage2 libbpf1 apparmor \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/security-profiles-operator /usr/bin/security-profiles-operator
# Non-root by default; the DaemonSet grants the node daemon what it needs explicitly.
USER 65532:65532
ENTRYPOINT ["/usr/bin/security-profiles-operator"]
CMD ["--help"]
