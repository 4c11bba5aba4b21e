# Cross build for arm64 (Debian multiarch, crossbuild-essential-arm64); tests run under qemu-user
# (docs/operations.md "arm64 cross build"):
#   cmake -B build/arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=packaging/toolchain-aarch64.cmake -DGW_BUILD_BENCH=OFF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
# gtest_discover_tests and ctest run the test binaries through this. No `-L /usr/aarch64-linux-gnu`: that prefix
# makes qemu load the cross package's ld-linux-aarch64.so.1 (libc6-arm64-cross) while ld.so then finds libc.so.6
# of libc6:arm64 in /lib/aarch64-linux-gnu, a different glibc build; the two share private structures (the
# thread stack cache in _rtld_global), so the first pthread_create loops forever. Without -L qemu uses
# /lib/ld-linux-aarch64.so.1 of libc6:arm64, which the multiarch -dev packages pull in anyway: one glibc.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static)
