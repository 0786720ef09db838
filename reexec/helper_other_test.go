//go:build !linux

package reexec

func helperMain() {}
