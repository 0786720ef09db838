// Package ctlsock is the control channel between a controller and a
// running framework daemon: how `svc reload`, `svc stop`, `svc upgrade` and
// `status` get the daemon's own verdict instead of only sending a signal.
//
// The daemon keeps no descriptor for it. The controller, holding the guard
// file's lock and having verified through a pidfd which process holds the
// PID file's lock, binds an abstract unix socket (SOCK_SEQPACKET) named
// after the PID file and that process:
//
//	@daemonkit/ctl/<dev>:<ino>/<pid>
//
// and then signals the daemon: [Poke] (SIGCHLD, which every program that
// does not handle it ignores) to ask for a request, or the stop signal
// itself. A framework daemon that gets one of these signals connects to
// the name of its own PID, reads one request and sends one reply ([Dial], [Caller.Serve]);
// if nothing listens there, the signal was not for it and nothing happens.
//
// An abstract name is not a file: nothing can be planted in a directory,
// nothing outlives the process that bound it, and connecting needs no
// privilege, so it works after the daemon dropped its. Both ends check each
// other with SO_PEERCRED:
//
//   - the daemon talks only to a listener whose uid is 0 or its own
//     effective uid: a process of another user that bound the name first
//     gets nothing ([ErrRefused]);
//   - the controller talks only to the PID it verified: a connection from
//     any other process is closed unread.
//
// One connection carries one request and one reply, each a JSON object in
// one datagram of at most [MaxMessage] bytes. The controller holds the
// guard file's lock for the whole exchange, so the channel adds no
// interleaving to the control protocol; a controller that dies mid-request
// only closes its end: the daemon finishes what was asked and keeps
// serving.
//
// Abstract names belong to a network namespace: a daemon in another one
// never connects, and the controller's wait ends without an answer
// ([ErrNoAnswer]).
package ctlsock
