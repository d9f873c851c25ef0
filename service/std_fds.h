// Standard descriptors a process was started without.
//
// A process started with stdin, stdout or stderr closed (a supervisor's
// `>&-`, a careless daemonizer) hands descriptor 0, 1 or 2 to the first file
// or socket it opens; a later log line or printf then lands in that socket
// or file. ReopenClosedStdFds, called first thing in main, puts /dev/null
// on those descriptors so that nothing else can take them.
//
// Shared libraries open descriptors before main (libgrpc's initialization
// opens an eventfd), so a program that links this library also runs it
// before any of them, from its ELF .preinit_array; the call in main then
// finds nothing to do, and says in the code what the program relies on.
//
// Depends on libc only, so that every binary can link it. Link it into
// executables only: a shared object may not have a .preinit_array.
//
// Example:
//   int main(int argc, char** argv) {
//     chat::ReopenClosedStdFds();
//     ...
//   }
#ifndef CHATROOM_SERVICE_STD_FDS_H_
#define CHATROOM_SERVICE_STD_FDS_H_

namespace chat {

// ReopenClosedStdFds
//
// Opens /dev/null (read-write) on each of descriptors 0, 1 and 2 that is
// closed (fcntl F_GETFD fails with EBADF); leaves open ones alone. Call it
// before any thread starts and before anything is opened. Without a
// /dev/null to open, a closed one stays closed.
void ReopenClosedStdFds();

}  // namespace chat

#endif  // CHATROOM_SERVICE_STD_FDS_H_
