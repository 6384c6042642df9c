// The system's libcrypt (libxcrypt on Debian): crypt_r checks bcrypt htpasswd entries.
#include <crypt.h>
