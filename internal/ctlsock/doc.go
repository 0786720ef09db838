// Package ctlsock is the control channel between a controller and a
// running framework daemon: how `svc reload`, `svc stop`, `svc upgrade` and
// `status` get the daemon's own verdict instead of only sending a signal.
//
// The daemon listens on an abstract unix socket (SOCK_SEQPACKET) named after
// the PID file it holds and its own PID:
//
//	@daemonkit/ctl/<dev>:<ino>/<pid>
//
// An abstract name is not a file: nothing can be planted in a directory,
// nothing outlives the process, and it works after the daemon dropped its
// privileges. Both ends check each other with SO_PEERCRED:
//
//   - the daemon reads a request only from a peer whose uid is 0 or its own
//     effective uid; anyone else gets a refusal and the connection is closed;
//   - the controller accepts an answer only from the PID it verified as the
//     holder of the PID file's lock (the credentials are the listener's, taken
//     by the kernel when the daemon called listen), so a process that bound
//     the name first is refused as an impostor ([ErrImpostor]).
//
// One connection carries one request and one reply, each a JSON object in
// one datagram of at most [MaxMessage] bytes. The controller holds the
// guard file's lock for the whole call, so the channel adds no interleaving
// to the control protocol; a controller that dies mid-request only closes its
// end: the daemon finishes what was asked and keeps serving.
//
// Abstract names belong to a network namespace: a controller in another
// one finds nothing ([ErrNoChannel]) and falls back to signals.
package ctlsock
