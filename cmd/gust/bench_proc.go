package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// What `gust bench` reads from /proc to weigh sandboxes. Linux only; other
// systems get an error and the density section says why it was skipped.

// procMem is the memory of a set of processes.
type procMem struct {
	Processes int
	PSSKB     int64 // proportional set size: shared pages divided among their users
	RSSKB     int64
}

// descendants lists the pids below root (children, grandchildren, ...),
// found by scanning /proc/*/stat for parents: /proc/PID/task/*/children is
// missing on kernels built without CONFIG_PROC_CHILDREN.
func descendants(root int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, err := parentOf(pid)
		if err != nil {
			continue // exited meanwhile
		}
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out, nil
}

// parentOf reads the ppid field of /proc/PID/stat. The command name (field
// 2) may hold spaces and parentheses, so fields are counted after its last ')'.
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, errors.New("malformed stat")
	}
	return strconv.Atoi(f[1])
}

// cpuTicks sums the user and system time of pids, in clock ticks.
func cpuTicks(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		// Fields 14 and 15 of stat: utime and stime; f[0] is field 3.
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		total += u + s
	}
	return total
}

// memoryOf sums the memory of pids; processes that exited meanwhile are
// skipped.
func memoryOf(pids []int) (procMem, error) {
	var m procMem
	for _, pid := range pids {
		pss, rss, err := pssOf(pid)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return m, err
		}
		m.Processes++
		m.PSSKB += pss
		m.RSSKB += rss
	}
	return m, nil
}

// pssOf reads Pss and Rss of one process from smaps_rollup (Linux 4.14+).
func pssOf(pid int) (pss, rss int64, err error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := false
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "Pss" && key != "Rss") {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("smaps_rollup of %d: %w", pid, err)
		}
		if key == "Pss" {
			pss, found = v, true
		} else {
			rss = v
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, fmt.Errorf("smaps_rollup of %d has no Pss line", pid)
	}
	return pss, rss, nil
}

// selfStatus reads this process's resident memory and thread count.
func selfStatus() (rssKB int64, threads int, err error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v := strings.TrimSuffix(strings.TrimSpace(rest), " kB")
		switch key {
		case "VmRSS":
			rssKB, _ = strconv.ParseInt(v, 10, 64)
		case "Threads":
			threads, _ = strconv.Atoi(v)
		}
	}
	return rssKB, threads, nil
}

// loadAverage is the first field of /proc/loadavg, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// cpuModel is the processor's name from /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if key, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// promSamples parses Prometheus' text format into series → value, the
// series written as exposed: name{label="value",...}.
func promSamples(text []byte) map[string]float64 {
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(text), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}
