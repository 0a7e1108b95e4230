import CSeccomp

/// Whether the running kernel enforces seccomp filters (the check runc makes): `PR_GET_SECCOMP`
/// must exist, and `PR_SET_SECCOMP` with `SECCOMP_MODE_FILTER` and a null program must fail
/// with `EFAULT` (the kernel looked at the program) rather than `EINVAL` (no filter mode).
public enum SeccompSupport {
    public static var isEnabled: Bool { cseccomp_kernel_supports_filters() == 1 }
}
