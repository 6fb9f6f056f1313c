package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procUsage is a process's CPU time and resident memory, read from /proc.
type procUsage struct {
	CPUSeconds float64
	RSSBytes   int64
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// readProc reads /proc/PID/stat and /proc/PID/status.
func readProc(pid int) (procUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, err
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: utime and stime are fields 14 and 15 of the line.
	s := string(stat)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(rest) < 13 {
		return procUsage{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseFloat(rest[11], 64)
	st, _ := strconv.ParseFloat(rest[12], 64)
	u := procUsage{CPUSeconds: (ut + st) / clockTicks}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			u.RSSBytes = kb << 10
		}
	}
	return u, nil
}
