// libapparmor for Swift: kernel support and the kernel interface that loads, replaces and
// removes compiled policy.
#include <sys/apparmor.h>
