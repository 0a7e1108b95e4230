# Build, test and package the Security Profiles Operator.
#
#   make build   debug build of every target
#   make test    install missing Debian packages (as root), build once, run the whole suite
#   make demo    build, run the node daemon standalone on examples/ and show a command it blocks
#   make run     build and show the binary's roles
#   make manifests  regenerate deploy/crds from the Swift API types
#   make bpf     regenerate the eBPF recorder's committed object from bpf/ (clang -target bpf)
#   make bench   release build of the benchmarks and their figures
#   make image   container image from the Dockerfile (needs a Docker engine)
#   make check-image  the image's runtime stage checked in a debootstrapped root (root, network)

SWIFT        ?= swift
IMAGE        ?= security-profiles-operator:dev
BINARY       := .build/debug/security-profiles-operator

# Debian packages the build and the tests need: the C libraries the node daemon links
# (seccomp, AppArmor, SELinux), pkg-config to find them, openssl for the tests' certificates,
# runc, crun and busybox-static for the tests that run containers under generated profiles,
# prometheus for promtool, which checks the metrics endpoints' output, libbpf-dev for spoc's
# eBPF recorder, gcc-multilib for the test that records a 32-bit program, apparmor for
# apparmor_parser and its features file, which compile AppArmor profiles in the tests, and
# selinux-policy-default for a real policy store that SELinux modules are installed into.
DEB_PACKAGES := pkg-config openssl libseccomp-dev libapparmor-dev libselinux1-dev libsemanage-dev libbpf-dev runc crun busybox-static prometheus gcc-multilib apparmor selinux-policy-default

.PHONY: all build test demo run bench image check-image manifests bpf deps clean

all: build

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		else \
			echo "missing Debian packages:$$missing (run 'sudo make deps')" >&2; exit 1; \
		fi; \
	fi

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: build
	hack/demo.sh

run: build
	$(BINARY) --help
	$(BINARY) version

manifests: build
	$(BINARY) generate manifests --deploy-dir deploy

bpf:
	CLANG=$${CLANG:-clang} hack/generate-bpf-object.sh

bench: deps
	$(SWIFT) run -c release kube-benchmarks

image:
	docker build -t $(IMAGE) .

check-image:
	hack/check-image-runtime.sh

clean:
	rm -rf .build
