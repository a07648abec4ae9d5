//go:build !linux

package motoserver

import "syscall"

// procAttr has no parent-death signal outside Linux: there Stop is what ends moto_server.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
