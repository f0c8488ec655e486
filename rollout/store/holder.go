package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Actor names who runs termshift: user@host.
func Actor() (userName, host string) {
	host, _ = os.Hostname()
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u, host
	}
	if u, err := user.Current(); err == nil {
		return u.Username, host
	}
	return fmt.Sprintf("uid%d", os.Getuid()), host
}

// NewLockInfo describes this process as the holder of a lock for command.
func NewLockInfo(command string, now time.Time) LockInfo {
	u, h := Actor()
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	pid := os.Getpid()
	return LockInfo{User: u, Host: h, PID: pid, Command: command, Since: now.UTC(),
		Token: hex.EncodeToString(tok[:]), ProcStart: procStart(pid)}
}

// HolderGone says whether a lock holder is provably gone: it ran on this
// host and its process no longer exists (or its PID now belongs to a later
// process). A holder on another host cannot be checked from here: false,
// with the reason.
func HolderGone(h LockInfo) (bool, string) {
	host, _ := os.Hostname()
	if h.Host != host {
		return false, "held from host " + h.Host + ", which cannot be checked from " + host
	}
	if h.PID <= 0 {
		return false, ""
	}
	if err := syscall.Kill(h.PID, 0); errors.Is(err, syscall.ESRCH) {
		return true, fmt.Sprintf("process %d is gone: the lock is stale", h.PID)
	}
	if h.ProcStart != 0 {
		if now := procStart(h.PID); now != 0 && now != h.ProcStart {
			return true, fmt.Sprintf("process %d is gone (its PID now belongs to another process): the lock is stale", h.PID)
		}
	}
	return false, ""
}

// procStart reads a process's start time (clock ticks since boot, field 22
// of /proc/PID/stat); 0 where /proc is not there.
func procStart(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it start behind the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0
	}
	v, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// Stale says whether a lock holder is gone: its process ended on this host,
// or its lease (on backends that lease locks) expired at now. Why says how
// it was decided, or why it cannot be.
func Stale(h LockInfo, now time.Time) (bool, string) {
	if !h.Expires.IsZero() && now.After(h.Expires) {
		return true, fmt.Sprintf("its lease expired at %s, %s ago", h.Expires.UTC().Format(time.RFC3339), now.Sub(h.Expires).Round(time.Second))
	}
	gone, why := HolderGone(h)
	if !gone && !h.Expires.IsZero() && h.Host != "" {
		if host, _ := os.Hostname(); h.Host != host {
			why = fmt.Sprintf("held from host %s; its lease runs until %s", h.Host, h.Expires.UTC().Format(time.RFC3339))
		}
	}
	return gone, why
}
