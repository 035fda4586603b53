package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Bounds on what one line may hold in memory. A function can print a line of
// any length; everything past these bounds is read and discarded so that the
// process never blocks on a full pipe.
const (
	// MaxLogLine bounds one log line; a longer line is cut and the call's logs
	// are marked truncated.
	MaxLogLine = 1 << 20
	// MaxReplyLine bounds the reply line. A longer reply is cut to this length,
	// which is beyond any result size limit, so the invoker still sees that the
	// result was too large.
	MaxReplyLine = 8 << 20
)

// exitGrace bounds how long a Call waits, after the process exited, for the
// last bytes it wrote to come out of the pipes. Without a process-wide kill (a
// daemon that escaped the driver), the pipes may never reach EOF.
const exitGrace = 100 * time.Millisecond

// maxQueued bounds the reply lines kept while no call waits. Only the start-up
// ack is legitimately early; anything beyond is a misbehaving process.
const maxQueued = 4

// ConnConfig is what a driver hands to NewConn. The Conn owns every pipe end
// in it from then on and closes them in Close.
type ConnConfig struct {
	Stdin  io.WriteCloser // requests, one line each
	Reply  io.ReadCloser  // fd 3: one reply line per request
	Stdout io.ReadCloser
	Stderr io.ReadCloser
	// Exited is closed when the process has exited.
	Exited <-chan struct{}
	// Kill kills the process and everything it started; it may be called many
	// times, also after the process exited.
	Kill func()
	// Concurrent lets many Calls be in flight (Spec.Concurrent). The process
	// must prefix each reply with the request's activation_id and a tab, as
	// Gust's launchers always do; logs are handed to whichever call completes
	// next instead of being attributed.
	Concurrent bool
	// SentinelStdout and SentinelStderr, when set, are the write ends of the
	// process's stdout and stderr pipes, for processes that do not print
	// sentinels themselves (Spec.NoSentinels). The Conn writes the sentinels
	// after each reply, as OpenWhisk's action proxy does: whatever the process
	// wrote before replying is ahead of them in the pipe.
	SentinelStdout io.WriteCloser
	SentinelStderr io.WriteCloser
	// OOMKilled, when set, is asked after the process died during a call
	// whether the kernel killed it for exceeding its memory limit. Drivers
	// without memory accounting leave it nil.
	OOMKilled func() bool
}

// Conn speaks the action loop over a process's pipes. It implements
// Sandbox.Call for every driver.
//
// Three goroutines read fd 3, stdout and stderr for the life of the process,
// so the process never blocks writing. Log lines are buffered, up to the
// current call's log limit, until a call takes them; lines printed between
// calls go to the next call, as OpenWhisk's log collection does.
//
// Calls are serialized unless the Conn is concurrent. A serialized Call
// returns after the reply and both sentinels, so the logs it returns are
// exactly those its request produced. In concurrent mode the runtime prints
// sentinels too, but they cannot be matched to requests: a Call returns as soon
// as its reply arrives, with whatever log lines have been read by then.
type Conn struct {
	stdin      io.WriteCloser
	closers    []io.Closer
	exited     <-chan struct{}
	kill       func()
	concurrent bool
	sentOut    io.Writer
	sentErr    io.Writer
	oomKilled  func() bool

	sem chan struct{} // held by the serialized call in flight

	wmu  sync.Mutex // one request line at a time on stdin
	wbuf []byte

	replyDone  chan struct{}
	stdoutDone chan struct{}
	stderrDone chan struct{}

	mu         sync.Mutex
	logs       []LogLine
	logBytes   int
	logLimit   int
	truncated  bool
	sentinels  [2]int        // per stream, since the current call started
	sentinelCh chan struct{} // closed and replaced when a sentinel arrives
	waiter     chan []byte   // the call waiting for an unkeyed reply
	queue      [][]byte      // unkeyed replies that arrived with no waiter
	keyed      map[string]chan []byte
	killed     bool

	closeOnce sync.Once
}

// idleLogLimit bounds the logs buffered before the first call sets a limit.
const idleLogLimit = 64 << 10

// NewConn starts reading the pipes in cfg.
func NewConn(cfg ConnConfig) *Conn {
	c := &Conn{
		stdin:      cfg.Stdin,
		exited:     cfg.Exited,
		kill:       cfg.Kill,
		concurrent: cfg.Concurrent,
		oomKilled:  cfg.OOMKilled,
		sem:        make(chan struct{}, 1),
		replyDone:  make(chan struct{}),
		stdoutDone: make(chan struct{}),
		stderrDone: make(chan struct{}),
		logLimit:   idleLogLimit,
		sentinelCh: make(chan struct{}),
		keyed:      map[string]chan []byte{},
	}
	c.closers = []io.Closer{cfg.Stdin, cfg.Reply, cfg.Stdout, cfg.Stderr}
	if cfg.SentinelStdout != nil && cfg.SentinelStderr != nil {
		c.sentOut, c.sentErr = cfg.SentinelStdout, cfg.SentinelStderr
		c.closers = append(c.closers, cfg.SentinelStdout, cfg.SentinelStderr)
	}
	go c.readReplies(cfg.Reply)
	go c.readLogs(cfg.Stdout, 0, c.stdoutDone)
	go c.readLogs(cfg.Stderr, 1, c.stderrDone)
	return c
}

var streamNames = [2]string{"stdout", "stderr"}

// Call sends line and waits for the reply, as Sandbox.Call documents. A nil
// line waits for one reply line only — the start-up ack — and leaves the logs
// read so far to the next call.
//
// Reply.Elapsed runs from sending the request to the reply's arrival (or to
// the end of the call when none came), so log draining is not metered.
// When ctx ends after the reply arrived but before the sentinels, the reply is
// returned with Truncated set and the process is killed: its later output
// could not be told apart from the next activation's.
//
// A serialized Call waiting for another to finish returns ctx.Err() if ctx
// ends first: that is the caller's misuse, not the function's doing.
func (c *Conn) Call(ctx context.Context, line []byte, logLimit int) (Reply, error) {
	if !c.concurrent {
		select {
		case c.sem <- struct{}{}:
			defer func() { <-c.sem }()
		case <-ctx.Done():
			return Reply{}, ctx.Err()
		}
	}
	if logLimit < 0 {
		logLimit = 0
	}
	start := time.Now()
	ch := make(chan []byte, 1)
	key := ""

	c.mu.Lock()
	if c.killed || isClosed(c.exited) {
		r := Reply{Exited: true}
		r.Logs, r.Truncated = c.takeLogsLocked()
		c.mu.Unlock()
		return r, nil
	}
	if line != nil {
		c.setLimitLocked(logLimit)
		if c.concurrent {
			key = activationID(line)
		} else {
			// Nothing but this request's reply is expected from now on:
			// drop stray lines and sentinels left by the previous exchange.
			c.queue = nil
			c.sentinels = [2]int{}
		}
	}
	switch {
	case line == nil && len(c.queue) > 0:
		ch <- c.queue[0]
		c.queue = c.queue[1:]
	case key != "":
		if c.keyed[key] != nil {
			c.mu.Unlock()
			return Reply{}, fmt.Errorf("sandbox: a call for activation %s is already in flight", key)
		}
		c.keyed[key] = ch
	case c.waiter != nil:
		// Only possible when concurrent: replies without an id cannot be
		// told apart, so one such call at a time.
		c.mu.Unlock()
		return Reply{}, errors.New("sandbox: a call without activation_id is already in flight")
	default:
		c.waiter = ch
	}
	c.mu.Unlock()
	defer c.unregister(key, ch)

	if line != nil {
		// A process that stopped reading stdin would block this write once
		// the pipe is full; ending ctx kills it, which unblocks the write.
		stop := context.AfterFunc(ctx, c.abort)
		err := c.write(line)
		stop()
		if err != nil {
			// The process is gone or closed its stdin: either way it cannot
			// answer. Kill it (not abort: its death is its own doing) and let
			// the exit path collect what it printed.
			c.kill()
		}
	}

	var r Reply
	got := false
	select {
	case r.Line = <-ch:
		got = true
	case <-c.exited:
		c.waitPipes(c.replyDone)
		select {
		case r.Line = <-ch:
			got = true
		default:
		}
	case <-ctx.Done():
		select {
		case r.Line = <-ch:
			got = true
		default:
		}
	}
	r.Elapsed = time.Since(start)

	switch {
	case !got && ctx.Err() != nil && !isClosed(c.exited):
		c.abort()
		r.TimedOut = true
		// Keep what it printed up to the kill.
		select {
		case <-c.exited:
			c.drainAfterExit()
		case <-time.After(exitGrace):
		}
	case !got:
		r.Exited = true
		c.drainAfterExit()
		c.mu.Lock()
		killed := c.killed // by another call's timeout, not by the kernel
		c.mu.Unlock()
		if c.oomKilled != nil && !killed {
			r.OOM = c.oomKilled()
		}
	case line != nil && !c.concurrent:
		if c.sentOut != nil {
			io.WriteString(c.sentOut, Sentinel+"\n")
			io.WriteString(c.sentErr, Sentinel+"\n")
		}
		if !c.waitSentinels(ctx) {
			r.Truncated = true
		}
	case line == nil:
		// The ack: logs stay for the first activation.
		return r, nil
	}

	c.mu.Lock()
	logs, truncated := c.takeLogsLocked()
	c.mu.Unlock()
	r.Logs = logs
	r.Truncated = r.Truncated || truncated
	return r, nil
}

// waitSentinels waits for a sentinel on both streams. It reports false when
// ctx ended first; the process is then killed.
func (c *Conn) waitSentinels(ctx context.Context) bool {
	for {
		c.mu.Lock()
		done := c.sentinels[0] > 0 && c.sentinels[1] > 0
		next := c.sentinelCh
		c.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-next:
		case <-c.exited:
			c.drainAfterExit()
			return true
		case <-ctx.Done():
			c.abort()
			return false
		}
	}
}

// drainAfterExit collects what the dead process wrote before it died.
func (c *Conn) drainAfterExit() {
	if c.sentOut != nil {
		// The write ends are ours too, so the pipes never reach EOF: mark the
		// end of the process's output instead.
		io.WriteString(c.sentOut, Sentinel+"\n")
		io.WriteString(c.sentErr, Sentinel+"\n")
		ctx, cancel := context.WithTimeout(context.Background(), exitGrace)
		defer cancel()
		c.waitSentinelsOnly(ctx)
		return
	}
	c.waitPipes(c.stdoutDone, c.stderrDone)
}

func (c *Conn) waitSentinelsOnly(ctx context.Context) {
	for {
		c.mu.Lock()
		done := c.sentinels[0] > 0 && c.sentinels[1] > 0
		next := c.sentinelCh
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-next:
		case <-ctx.Done():
			return
		}
	}
}

// waitPipes waits, at most exitGrace, for readers to reach EOF.
func (c *Conn) waitPipes(done ...chan struct{}) {
	var timer *time.Timer
	for _, d := range done {
		if isClosed(d) {
			continue
		}
		if timer == nil {
			timer = time.NewTimer(exitGrace)
			defer timer.Stop()
		}
		select {
		case <-d:
		case <-timer.C:
			return
		}
	}
}

// abort kills the process and unblocks a pending write on stdin.
func (c *Conn) abort() {
	c.mu.Lock()
	c.killed = true
	c.mu.Unlock()
	c.kill()
	c.stdin.Close()
}

func (c *Conn) unregister(key string, ch chan []byte) {
	c.mu.Lock()
	if key != "" {
		if c.keyed[key] == ch {
			delete(c.keyed, key)
		}
	} else if c.waiter == ch {
		c.waiter = nil
	}
	c.mu.Unlock()
}

// write sends line and its newline in one write when the line is small, so
// that concurrent requests cannot interleave and a warm call costs one
// syscall; large lines go in two writes rather than keeping a big buffer.
func (c *Conn) write(line []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(line) < 64<<10 {
		c.wbuf = append(append(c.wbuf[:0], line...), '\n')
		_, err := c.stdin.Write(c.wbuf)
		return err
	}
	if _, err := c.stdin.Write(line); err != nil {
		return err
	}
	_, err := c.stdin.Write([]byte{'\n'})
	return err
}

// setLimitLocked applies a call's log limit to what is already buffered.
func (c *Conn) setLimitLocked(limit int) {
	c.logLimit = limit
	if c.logBytes <= limit {
		return
	}
	n, kept := 0, 0
	for ; kept < len(c.logs); kept++ {
		if n+len(c.logs[kept].Text) > limit {
			break
		}
		n += len(c.logs[kept].Text)
	}
	clear(c.logs[kept:])
	c.logs = c.logs[:kept]
	c.logBytes = n
	c.truncated = true
}

func (c *Conn) takeLogsLocked() ([]LogLine, bool) {
	logs, truncated := c.logs, c.truncated
	c.logs, c.logBytes, c.truncated = nil, 0, false
	return logs, truncated
}

func (c *Conn) readReplies(r io.Reader) {
	defer close(c.replyDone)
	lr := newLineReader(r, MaxReplyLine)
	for {
		line, _, _, err := lr.next(false)
		if err == nil || len(line) > 0 {
			c.deliver(bytes.Clone(line))
		}
		if err != nil {
			return
		}
	}
}

func (c *Conn) deliver(line []byte) {
	key, rest := splitKey(line)
	if !c.concurrent {
		// Serialized, the reply is this call's whatever its key; a line that
		// is not "<id>\t<json>" stays exactly as the process wrote it.
		if key != "" && len(rest) > 0 && (rest[0] == '{' || rest[0] == '[') {
			line = rest
		}
		key = ""
	} else {
		line = rest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if key != "" {
		if ch := c.keyed[key]; ch != nil {
			delete(c.keyed, key)
			ch <- line
		}
		return // else a reply to a call that already gave up
	}
	if c.waiter != nil {
		c.waiter <- line
		c.waiter = nil
		return
	}
	if len(c.queue) < maxQueued {
		c.queue = append(c.queue, line)
	}
}

func (c *Conn) readLogs(r io.Reader, stream int, done chan struct{}) {
	defer close(done)
	lr := newLineReader(r, MaxLogLine)
	for {
		line, cut, sentinel, err := lr.next(true)
		if err == nil || len(line) > 0 || sentinel {
			c.addLog(stream, line, cut, sentinel)
		}
		if err != nil {
			return
		}
	}
}

func (c *Conn) addLog(stream int, line []byte, cut, sentinel bool) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(line) > 0 || !sentinel {
		if cut || c.truncated || c.logBytes+len(line) > c.logLimit {
			c.truncated = true
		} else {
			c.logs = append(c.logs, LogLine{Time: now, Stream: streamNames[stream], Text: string(line)})
			c.logBytes += len(line)
		}
	}
	if sentinel {
		c.sentinels[stream]++
		close(c.sentinelCh)
		c.sentinelCh = make(chan struct{})
	}
}

// Close closes every pipe end and waits for the readers to stop. The driver
// calls it once the process is dead.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		for _, cl := range c.closers {
			cl.Close()
		}
		<-c.replyDone
		<-c.stdoutDone
		<-c.stderrDone
	})
	return nil
}

// activationID extracts the request's activation_id for concurrent calls.
func activationID(line []byte) string {
	var req struct {
		ActivationID string `json:"activation_id"`
	}
	if json.Unmarshal(line, &req) != nil {
		return ""
	}
	return req.ActivationID
}

// splitKey splits "<activation_id>\t<json>". A line that starts like JSON
// has no key, so a garbage reply comes back exactly as written.
func splitKey(line []byte) (string, []byte) {
	if len(line) == 0 || line[0] == '{' || line[0] == '[' {
		return "", line
	}
	i := bytes.IndexByte(line, '\t')
	if i <= 0 || i > 128 {
		return "", line
	}
	for _, b := range line[:i] {
		if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '-' || b == '_') {
			return "", line
		}
	}
	return string(line[:i]), line[i+1:]
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// lineReader reads newline-terminated lines of bounded length from a pipe.
type lineReader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 4096), max: max}
}

// next returns the next line without its newline, cut to max bytes. When
// detect is set, a line ending with Sentinel is reported as sentinel and
// returned without it: a function may print text without a newline just
// before the launcher prints the sentinel. The returned slice is valid until
// the next call. At EOF the last unterminated line is returned with the error.
func (lr *lineReader) next(detect bool) (line []byte, cut, sentinel bool, err error) {
	chunk, err := lr.br.ReadSlice('\n')
	if err == nil {
		line = chunk[:len(chunk)-1]
		if len(line) > lr.max {
			line, cut = line[:lr.max], true
		}
		if detect && bytes.HasSuffix(chunk[:len(chunk)-1], sentinelBytes) {
			sentinel = true
			line = line[:min(len(line), len(chunk)-1-len(sentinelBytes))]
		}
		return line, cut, sentinel, nil
	}
	// A long line: keep up to max bytes, discard the rest, and remember the
	// last bytes of the whole line to see whether it ends with a sentinel.
	lr.buf = lr.buf[:0]
	var tail [64]byte
	tn, total := 0, 0
	for {
		data := chunk
		complete := err == nil
		if complete {
			data = chunk[:len(chunk)-1]
		}
		total += len(data)
		if room := lr.max - len(lr.buf); len(data) > room {
			lr.buf = append(lr.buf, data[:room]...)
			cut = true
		} else {
			lr.buf = append(lr.buf, data...)
		}
		if detect {
			tn = keepTail(tail[:], tn, data)
		}
		if err != bufio.ErrBufferFull {
			break
		}
		chunk, err = lr.br.ReadSlice('\n')
	}
	line = lr.buf
	if detect && bytes.HasSuffix(tail[:tn], sentinelBytes) {
		sentinel = true
		line = line[:min(len(line), total-len(sentinelBytes))]
	}
	if cap(lr.buf) > 64<<10 {
		// Do not keep a big buffer for the life of a quiet process; the caller
		// copies the line before the next call.
		lr.buf = nil
	}
	return line, cut, sentinel, err
}

var sentinelBytes = []byte(Sentinel)

// keepTail keeps the last len(tail) bytes of everything passed so far.
func keepTail(tail []byte, n int, data []byte) int {
	if len(data) >= len(tail) {
		return copy(tail, data[len(data)-len(tail):])
	}
	keep := min(n, len(tail)-len(data))
	copy(tail, tail[n-keep:n])
	copy(tail[keep:], data)
	return keep + len(data)
}
