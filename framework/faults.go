package framework

// Fault-injection points (see faults_on.go; no-ops in normal builds).
// Launcher: before-lock, after-lock, after-spawn, after-ready (READY
// received, PID not yet written), after-pid (PID written, no ACK yet).
// Daemon: adopted, before-ready (hooks done, READY not sent), after-ack,
// before-clear (OnStop hooks done, PID file not yet emptied).
const (
	faultBeforeLock  = "before-lock"
	faultAfterLock   = "after-lock"
	faultAfterSpawn  = "after-spawn"
	faultAfterReady  = "after-ready"
	faultAfterPID    = "after-pid"
	faultAdopted     = "adopted"
	faultBeforeReady = "before-ready"
	faultAfterAck    = "after-ack"
	faultBeforeClear = "before-clear"
)
