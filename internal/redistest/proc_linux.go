package redistest

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// startProcess starts cmd so that the kernel kills it when the test binary dies, and
// a test killed by its timeout leaks no server.
//
// Linux sends the parent-death signal when the thread that forked the child exits,
// not the process; Go may end a thread whose goroutine locked it. So every child is
// forked from one goroutine locked to a thread that lives as long as the process.
func startProcess(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	spawnOnce.Do(func() { go spawner() })
	req := spawnRequest{cmd: cmd, err: make(chan error, 1)}
	spawns <- req
	return <-req.err
}

type spawnRequest struct {
	cmd *exec.Cmd
	err chan error
}

var (
	spawnOnce sync.Once
	spawns    = make(chan spawnRequest)
)

func spawner() {
	runtime.LockOSThread() // never unlocked: the thread must outlive every child
	for req := range spawns {
		req.err <- req.cmd.Start()
	}
}
