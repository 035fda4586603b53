// Package invoker runs activations on one machine: it keeps a warm pool of
// sandboxes keyed by action, prewarmed stem cells per kind, admits work
// against the machine's user memory (queueing, never failing, when full),
// meters each activation to the millisecond and hands its record to the
// Recorder.
package invoker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/sandbox"
	"github.com/gustfaas/gust/internal/whisk"
)

// Config tunes an invoker.
type Config struct {
	UserMemoryMB     int            // memory for all sandboxes together
	KeepAlive        time.Duration  // idle warm sandboxes are removed after this
	PauseGrace       time.Duration  // idle sandboxes that can pause are paused after this
	StemCells        map[string]int // kind → number of prewarmed sandboxes always kept ready
	StemCellMemoryMB int            // memory limit of stem cells; actions with another limit start cold
	// StemCellsMax bounds the stem cells of a kind kept for recent demand:
	// as many as its cold starts in the last StemCellDemandWindow, up to
	// this, in memory no sandbox needs (0: only StemCells).
	StemCellsMax         int
	StemCellDemandWindow time.Duration
	WorkDir              string // code cache and sandbox directories live here
	MaxResultBytes       int
	APIHost              string // given to functions as __OW_API_HOST
	Network              string // default network policy for sandboxes: none, egress or host
	// AllowHostNetwork lets actions ask for the "host" policy (annotation
	// network: host): trusted operators only, since such a function reaches
	// every service on the machine.
	AllowHostNetwork bool
}

// DefaultConfig returns OpenWhisk-like defaults.
func DefaultConfig() Config {
	return Config{
		UserMemoryMB:         2048,
		KeepAlive:            10 * time.Minute,
		PauseGrace:           10 * time.Second,
		StemCells:            map[string]int{},
		StemCellMemoryMB:     256,
		StemCellsMax:         4,
		StemCellDemandWindow: time.Minute,
		MaxResultBytes:       1 << 20,
		Network:              "egress",
	}
}

// RuntimeLookup finds the runtime of a kind.
type RuntimeLookup interface {
	Lookup(kind string) (runtimes.Runtime, bool)
}

// Deps are the invoker's collaborators.
type Deps struct {
	Driver   sandbox.Driver
	Runtimes RuntimeLookup
	Recorder *Recorder
	Logger   *slog.Logger
	Metrics  prometheus.Registerer // may be nil
	Now      func() time.Time
}

// Invoker runs activations.
type Invoker struct {
	cfg  Config
	deps Deps
	code *codeCache
	log  *slog.Logger
	now  func() time.Time
	seq  atomic.Uint64
	busy atomic.Int64 // activations between Start and their record
	// abandoning is set when Close stopped waiting for running activations:
	// what the sandboxes' destruction cuts off from then on is not recorded
	// as the action's failure but handed back (OnAbandoned).
	abandoning atomic.Bool
	met        *metrics
	start      time.Time

	mu       sync.Mutex
	usedMB   int
	idle     map[string][]*container // pool key → sandboxes with a free slot, most recently used last
	stems    map[string][]*container // kind → ready stem cells
	filling  map[string]bool         // kinds whose stem cells are being replenished
	demand   map[string][]time.Time  // kind → its recent cold starts that a stem cell could serve, oldest first
	waiters  []chan struct{}
	closed   bool
	running  sync.WaitGroup
	stopReap chan struct{}
}

type container struct {
	sb       sandbox.Sandbox
	key      string
	kind     string
	memMB    int
	maxConc  int
	inflight int  // guarded by Invoker.mu
	listed   bool // in Invoker.idle: has a free slot; guarded by Invoker.mu
	lastUsed time.Time
	paused   bool
	pauseT   *time.Timer
	initLogs []string      // logs of the start-up, given to the first activation's record
	initTime time.Duration // how long the start-up took (process start and ack)
}

// New starts an invoker and its stem cells.
func New(cfg Config, deps Deps) (*Invoker, error) {
	if deps.Driver == nil || deps.Runtimes == nil || deps.Recorder == nil {
		return nil, errors.New("invoker: Driver, Runtimes and Recorder are required")
	}
	if cfg.UserMemoryMB <= 0 {
		return nil, errors.New("invoker: user memory must be positive")
	}
	if cfg.MaxResultBytes <= 0 {
		cfg.MaxResultBytes = DefaultConfig().MaxResultBytes
	}
	if cfg.StemCellMemoryMB <= 0 {
		cfg.StemCellMemoryMB = DefaultConfig().StemCellMemoryMB
	}
	if cfg.StemCellDemandWindow <= 0 {
		cfg.StemCellDemandWindow = DefaultConfig().StemCellDemandWindow
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "gust-invoker-")
		if err != nil {
			return nil, err
		}
		cfg.WorkDir = dir
	}
	code, err := newCodeCache(filepath.Join(cfg.WorkDir, "code"))
	if err != nil {
		return nil, err
	}
	inv := &Invoker{
		cfg: cfg, deps: deps, code: code, log: deps.Logger, now: deps.Now,
		idle:     make(map[string][]*container),
		stems:    make(map[string][]*container),
		filling:  make(map[string]bool),
		demand:   make(map[string][]time.Time),
		stopReap: make(chan struct{}),
		start:    deps.Now(),
	}
	inv.met = newMetrics(deps.Metrics, inv)
	for kind := range cfg.StemCells {
		if _, ok := deps.Runtimes.Lookup(kind); !ok {
			return nil, fmt.Errorf("invoker: stem cells for unknown kind %q", kind)
		}
		go inv.fillStemCells(kind)
	}
	go inv.reapLoop()
	return inv, nil
}

// Start implements controller.Invoker.
func (inv *Invoker) Start(msg *whisk.ActivationMessage) (<-chan *whisk.Activation, error) {
	if msg.Action == nil {
		return nil, &whisk.Error{Code: whisk.CodeInternal, Message: "invoker: message without its action"}
	}
	inv.mu.Lock()
	if inv.closed {
		inv.mu.Unlock()
		return nil, &whisk.Error{Code: whisk.CodeUnavailable, Message: whisk.MsgShuttingDown}
	}
	inv.running.Add(1)
	inv.mu.Unlock()
	ch := make(chan *whisk.Activation, 1)
	inv.busy.Add(1)
	go func() {
		defer inv.running.Done()
		defer inv.busy.Add(-1)
		act := inv.run(msg)
		if msg.OnAbandoned != nil && inv.abandoning.Load() && act.Response.StatusCode == whisk.StatusDeveloperError {
			msg.OnAbandoned()
			ch <- act
			return
		}
		inv.deps.Recorder.RecordThen(act, msg.OnRecorded)
		inv.met.observe(msg, act)
		ch <- act
	}()
	return ch, nil
}

func poolKey(msg *whisk.ActivationMessage) string {
	return msg.Identity.Namespace + "|" + msg.ActionFQN.String() + "|" + msg.Action.Version + "|" +
		strconv.FormatInt(msg.ActionRev, 10)
}

// run executes one activation and returns its record.
func (inv *Invoker) run(msg *whisk.ActivationMessage) *whisk.Activation {
	action := msg.Action
	limits := action.Limits
	rec := inv.newRecord(msg)
	rt, ok := inv.deps.Runtimes.Lookup(action.Exec.Kind)
	if !ok {
		rec.finish(inv.now(), whisk.ErrorResponse(whisk.StatusDeveloperError,
			fmt.Sprintf("The specified runtime '%s' is not supported by this platform.", action.Exec.Kind)))
		return rec.act
	}

	c, how, err := inv.acquire(msg, rt)
	start := inv.now()
	rec.act.Start = start.UnixMilli()
	rec.annotate("waitTime", start.Sub(msg.Received).Milliseconds())
	timeout := time.Duration(limits.Timeout) * time.Millisecond
	logLimit := limits.Logs << 20
	if err != nil {
		rec.finish(inv.now(), inv.startFailure(msg, err, rec))
		return rec.act
	}
	inv.met.starts.WithLabelValues(how).Inc()

	var logs []string
	if how != "warm" {
		if rt.StemCell() {
			initStart := inv.now()
			resp, initLogs, timedOut, ok := inv.initialize(c, rt, msg, timeout, logLimit)
			rec.annotate("initTime", inv.now().Sub(initStart).Milliseconds())
			if !ok {
				inv.discard(c)
				rec.act.Logs = append(initLogs, logLine(inv.now(), "stderr", whisk.MsgAbnormalRun))
				rec.annotateTimeout(timedOut)
				rec.finish(inv.now(), resp)
				return rec.act
			}
			logs = initLogs
		} else {
			rec.annotate("initTime", c.initTime.Milliseconds())
			logs = c.initLogs
			c.initLogs = nil
		}
	}

	if how != "warm" {
		inv.shareable(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	deadline, _ := ctx.Deadline()
	withKey := action.Annotations.Get("provide-api-key") == nil || action.Annotations.IsTruthy("provide-api-key")
	reply, err := c.sb.Call(ctx, runLine(msg, deadline, withKey), logLimit)
	cancel()
	end := inv.now()
	if err != nil {
		inv.log.Error("sandbox call failed", "activation", msg.ActivationID, "err", err)
		inv.discard(c)
		rec.finish(end, whisk.ErrorResponse(whisk.StatusInternalError, whisk.MsgInternal))
		return rec.act
	}
	resp, reusable := classifyRun(reply, limits.Timeout, inv.cfg.MaxResultBytes)
	logs = formatLogs(logs, reply.Logs)
	if reply.Truncated {
		logs = append(logs, logLine(end, "stderr", fmt.Sprintf(whisk.MsgLogsTruncated, logLimit)))
	}
	if resp.StatusCode == whisk.StatusDeveloperError {
		logs = append(logs, logLine(end, "stderr", whisk.MsgAbnormalRun))
	}
	rec.annotateTimeout(reply.TimedOut)
	rec.act.Logs = logs
	if reusable {
		inv.release(c)
	} else {
		inv.discard(c)
	}
	rec.finish(end, resp)
	return rec.act
}

// startFailure turns a failure to get a running sandbox into the record's
// response: the function's fault when its own code would not build or start,
// the platform's otherwise.
func (inv *Invoker) startFailure(msg *whisk.ActivationMessage, err error, rec *record) whisk.Response {
	var fail *initFailure
	if errors.As(err, &fail) {
		rec.act.Logs = append(fail.logs, logLine(inv.now(), "stderr", whisk.MsgAbnormalRun))
		rec.annotate("initTime", fail.initTime.Milliseconds())
		rec.annotateTimeout(fail.timedOut)
		return fail.resp
	}
	var werr *whisk.Error
	if errors.As(err, &werr) && werr.Code == whisk.CodeBadRequest {
		// The runtime could not prepare the code: a compile error, a bad zip.
		return whisk.ErrorResponse(whisk.StatusDeveloperError, werr.Message)
	}
	inv.log.Error("starting a sandbox failed", "activation", msg.ActivationID, "err", err)
	return whisk.ErrorResponse(whisk.StatusInternalError, whisk.MsgInternal)
}

// initialize sends a stem-cell sandbox its code in an init line.
func (inv *Invoker) initialize(c *container, rt runtimes.Runtime, msg *whisk.ActivationMessage, timeout time.Duration, logLimit int) (resp whisk.Response, logs []string, timedOut, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	line := rt.InitLine(&msg.Action.Exec, msg.ActionFQN.Name, inv.initEnv(msg, timeout))
	reply, err := c.sb.Call(ctx, line, logLimit)
	if err != nil {
		inv.log.Error("sandbox init failed", "activation", msg.ActivationID, "err", err)
		return whisk.ErrorResponse(whisk.StatusInternalError, whisk.MsgInternal), nil, false, false
	}
	resp, ok = classifyInit(reply, msg.Action.Limits.Timeout)
	return resp, formatLogs(nil, reply.Logs), reply.TimedOut, ok
}

// initEnv is OpenWhisk's /init environment: init parameters and the first
// activation's context.
func (inv *Invoker) initEnv(msg *whisk.ActivationMessage, timeout time.Duration) map[string]string {
	env := make(map[string]string, len(msg.InitEnv)+8)
	for k, v := range msg.InitEnv {
		env[k] = v
	}
	a := msg.Action
	if a.Annotations.Get("provide-api-key") == nil || a.Annotations.IsTruthy("provide-api-key") {
		if msg.APIKey != "" {
			env["__OW_API_KEY"] = msg.APIKey
		}
	}
	env["__OW_NAMESPACE"] = msg.Identity.Namespace
	env["__OW_ACTION_NAME"] = msg.ActionFQN.String()
	env["__OW_ACTION_VERSION"] = a.Version
	env["__OW_ACTIVATION_ID"] = msg.ActivationID
	env["__OW_TRANSACTION_ID"] = msg.TransactionID
	env["__OW_DEADLINE"] = strconv.FormatInt(inv.now().Add(timeout).UnixMilli(), 10)
	if inv.cfg.APIHost != "" {
		env["__OW_API_HOST"] = inv.cfg.APIHost
	}
	return env
}

// acquire returns a sandbox for msg: a warm one of the same action, a stem
// cell of its kind, or a new one once memory allows. how is "warm", "stem" or
// "cold".
func (inv *Invoker) acquire(msg *whisk.ActivationMessage, rt runtimes.Runtime) (*container, string, error) {
	key := poolKey(msg)
	mem := msg.Action.Limits.Memory
	conc := max(1, msg.Action.Limits.Concurrency)
	if !rt.SupportsConcurrency() {
		conc = 1
	}
	counted := false
	for {
		inv.mu.Lock()
		if c := inv.takeWarm(key); c != nil {
			inv.mu.Unlock()
			if c.paused {
				if p, ok := c.sb.(sandbox.Pauser); ok {
					if err := p.Resume(); err != nil {
						inv.discard(c)
						continue
					}
				}
				c.paused = false
			}
			return c, "warm", nil
		}
		// Stem cells speak the loop one request at a time; an action that
		// runs many activations per sandbox starts its own.
		stemmable := rt.StemCell() && mem == inv.cfg.StemCellMemoryMB && conc == 1 && inv.networkOf(msg.Action) == inv.cfg.Network
		if stemmable && !counted {
			counted = true
			inv.noteDemand(rt.Kind())
		}
		if stemmable {
			if stems := inv.stems[rt.Kind()]; len(stems) > 0 {
				c := stems[len(stems)-1]
				inv.stems[rt.Kind()] = stems[:len(stems)-1]
				c.key, c.maxConc, c.inflight = key, conc, 1
				inv.mu.Unlock()
				go inv.fillStemCells(rt.Kind())
				return c, "stem", nil
			}
		}
		if inv.reserve(mem, true) {
			inv.mu.Unlock()
			if stemmable {
				// Missed: grow the kind's stem cells for the next ones.
				go inv.fillStemCells(rt.Kind())
			}
			c, err := inv.startContainer(msg, rt, mem)
			if err != nil {
				inv.unreserve(mem)
				return nil, "", err
			}
			c.key, c.maxConc, c.inflight = key, conc, 1
			return c, "cold", nil
		}
		if inv.closed {
			inv.mu.Unlock()
			return nil, "", errors.New("invoker closed")
		}
		wait := make(chan struct{})
		inv.waiters = append(inv.waiters, wait)
		inv.mu.Unlock()
		<-wait
	}
}

// takeWarm pops a warm sandbox of key with a free slot. Called with mu held.
func (inv *Invoker) takeWarm(key string) *container {
	list := inv.idle[key]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	c.inflight++
	if c.inflight >= c.maxConc {
		c.listed = false
		list = list[:len(list)-1]
		if len(list) == 0 {
			delete(inv.idle, key)
		} else {
			inv.idle[key] = list
		}
	}
	if c.pauseT != nil {
		c.pauseT.Stop()
		c.pauseT = nil
	}
	return c
}

// reserve takes mem from the free memory, evicting idle sandboxes (least
// recently used first) when that makes room; stem cells are evicted last,
// and only when evictStems. Called with mu held.
func (inv *Invoker) reserve(mem int, evictStems bool) bool {
	if mem > inv.cfg.UserMemoryMB {
		mem = inv.cfg.UserMemoryMB
	}
	for inv.usedMB+mem > inv.cfg.UserMemoryMB {
		victim := inv.lruIdle(evictStems)
		if victim == nil {
			return false
		}
		inv.removeIdle(victim)
		inv.usedMB -= victim.memMB
		go victim.sb.Destroy()
	}
	inv.usedMB += mem
	return true
}

func (inv *Invoker) unreserve(mem int) {
	inv.mu.Lock()
	inv.usedMB -= min(mem, inv.cfg.UserMemoryMB)
	inv.wakeWaiters()
	inv.mu.Unlock()
}

// lruIdle finds the idle sandbox used longest ago, stem cells last of all
// since they are what makes the next cold start cheap. Called with mu held.
func (inv *Invoker) lruIdle(stems bool) *container {
	var victim *container
	for _, list := range inv.idle {
		for _, c := range list {
			if c.inflight == 0 && (victim == nil || c.lastUsed.Before(victim.lastUsed)) {
				victim = c
			}
		}
	}
	if victim != nil || !stems {
		return victim
	}
	for _, list := range inv.stems {
		if len(list) > 0 {
			return list[0]
		}
	}
	return nil
}

// removeIdle takes c out of the idle and stem lists. Called with mu held.
func (inv *Invoker) removeIdle(c *container) {
	remove := func(m map[string][]*container, k string) {
		list := m[k]
		for i, x := range list {
			if x == c {
				list = append(list[:i:i], list[i+1:]...)
				if len(list) == 0 {
					delete(m, k)
				} else {
					m[k] = list
				}
				return
			}
		}
	}
	remove(inv.idle, c.key)
	remove(inv.stems, c.kind)
	c.listed = false
	if c.pauseT != nil {
		c.pauseT.Stop()
		c.pauseT = nil
	}
}

func (inv *Invoker) wakeWaiters() {
	for _, w := range inv.waiters {
		close(w)
	}
	inv.waiters = nil
}

// startContainer starts a sandbox: empty for stem-cell runtimes, with the
// action's prepared code for the others (waiting for its ack if it gives one).
func (inv *Invoker) startContainer(msg *whisk.ActivationMessage, rt runtimes.Runtime, mem int) (*container, error) {
	timeout := time.Duration(msg.Action.Limits.Timeout) * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	started := time.Now()
	var cmd runtimes.Command
	if rt.StemCell() {
		cmd = rt.Command("", nil)
	} else {
		dir, err := inv.code.prepare(ctx, rt, &msg.Action.Exec, msg.ActionRev)
		if err != nil {
			return nil, err
		}
		cmd = rt.Command(dir, inv.initEnv(msg, timeout))
	}
	c, err := inv.startSandbox(ctx, rt, cmd, mem, msg.Action.Limits.Concurrency > 1, inv.networkOf(msg.Action))
	if err != nil {
		return nil, err
	}
	if cmd.WaitAck {
		actx, acancel := context.WithTimeout(context.Background(), timeout)
		reply, err := c.sb.Call(actx, nil, msg.Action.Limits.Logs<<20)
		acancel()
		if err != nil {
			c.sb.Destroy()
			return nil, err
		}
		c.initLogs = formatLogs(nil, reply.Logs)
		if resp, ok := classifyInit(reply, msg.Action.Limits.Timeout); !ok {
			// The action's own start failed: that is the function's fault and
			// is reported as its activation's result, not as a platform error.
			c.sb.Destroy()
			return nil, &initFailure{resp: resp, logs: c.initLogs, timedOut: reply.TimedOut, initTime: time.Since(started)}
		}
	}
	c.initTime = time.Since(started)
	return c, nil
}

// Network policies an action may name in its "network" annotation.
const (
	NetworkNone   = "none"
	NetworkEgress = "egress"
	NetworkHost   = "host"
)

// networkOf is the policy an action runs under: its "network" annotation
// when it names an allowed policy, else the server's default.
func (inv *Invoker) networkOf(a *whisk.Action) string {
	switch p, _ := a.Annotations.GetString("network"); p {
	case NetworkNone, NetworkEgress:
		return p
	case NetworkHost:
		if inv.cfg.AllowHostNetwork {
			return p
		}
	}
	return inv.cfg.Network
}

func (inv *Invoker) startSandbox(ctx context.Context, rt runtimes.Runtime, cmd runtimes.Command, mem int, concurrent bool, network string) (*container, error) {
	id := fmt.Sprintf("%s-%d", inv.start.Format("150405"), inv.seq.Add(1))
	created := time.Now()
	sb, err := inv.deps.Driver.Start(ctx, sandbox.Spec{
		ID:            id,
		Argv:          cmd.Argv,
		Env:           cmd.Env,
		Dir:           cmd.Dir,
		MemoryMB:      mem,
		ReadOnlyPaths: cmd.ReadOnlyPaths,
		Network:       network,
		Concurrent:    concurrent && rt.SupportsConcurrency(),
		NoSentinels:   cmd.NoSentinels,
	})
	if err != nil {
		return nil, err
	}
	inv.met.creates.WithLabelValues(rt.Kind()).Observe(time.Since(created).Seconds())
	return &container{sb: sb, kind: rt.Kind(), memMB: mem, lastUsed: inv.now()}, nil
}

// initFailure is a start-up that the function itself broke.
type initFailure struct {
	resp     whisk.Response
	logs     []string
	timedOut bool
	initTime time.Duration
}

func (e *initFailure) Error() string { return "action failed to start: " + string(e.resp.Result) }

// release returns a healthy sandbox to the warm pool.
func (inv *Invoker) release(c *container) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	c.lastUsed = inv.now()
	c.inflight--
	if inv.closed {
		if c.inflight == 0 {
			inv.usedMB -= c.memMB
			go c.sb.Destroy()
		}
		return
	}
	inv.list(c)
	if c.inflight == 0 && inv.cfg.PauseGrace > 0 {
		if _, ok := c.sb.(sandbox.Pauser); ok {
			c.pauseT = time.AfterFunc(inv.cfg.PauseGrace, func() { inv.pause(c) })
		}
	}
	inv.wakeWaiters()
}

func (inv *Invoker) pause(c *container) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if c.inflight != 0 || c.paused || c.pauseT == nil {
		return
	}
	c.pauseT = nil
	if err := c.sb.(sandbox.Pauser).Pause(); err == nil {
		c.paused = true
	}
}

// list makes c's free slots available to other activations of its action.
// Called with mu held.
func (inv *Invoker) list(c *container) {
	if !c.listed && c.inflight < c.maxConc {
		c.listed = true
		inv.idle[c.key] = append(inv.idle[c.key], c)
	}
}

// shareable lists a freshly initialised sandbox at once when it may run
// several activations, so that concurrent requests join it instead of each
// starting a sandbox of its own.
func (inv *Invoker) shareable(c *container) {
	if c.maxConc > 1 {
		inv.mu.Lock()
		inv.list(c)
		inv.mu.Unlock()
	}
}

// discard destroys a sandbox that must not serve again (timed out, crashed,
// broken) and frees its memory.
func (inv *Invoker) discard(c *container) {
	inv.mu.Lock()
	inv.removeIdle(c)
	c.inflight--
	inv.usedMB -= c.memMB
	inv.wakeWaiters()
	inv.mu.Unlock()
	c.sb.Destroy()
}

// fillStemCells starts stem cells of kind until the configured count is ready.
func (inv *Invoker) fillStemCells(kind string) {
	inv.mu.Lock()
	if inv.filling[kind] || inv.closed {
		inv.mu.Unlock()
		return
	}
	inv.filling[kind] = true
	inv.mu.Unlock()
	defer func() {
		inv.mu.Lock()
		inv.filling[kind] = false
		inv.mu.Unlock()
	}()
	rt, _ := inv.deps.Runtimes.Lookup(kind)
	mem := inv.cfg.StemCellMemoryMB
	for {
		inv.mu.Lock()
		// A stem cell is worth more than an idle sandbox of some action: it
		// makes the next cold start of any action of its kind cheap. So
		// replenishing evicts idle sandboxes, but never running ones.
		have := len(inv.stems[kind])
		if inv.closed || have >= inv.stemTarget(kind) {
			inv.mu.Unlock()
			return
		}
		// The configured ones may evict idle sandboxes; those kept for
		// demand only take memory nothing else uses.
		if have < inv.cfg.StemCells[kind] && !inv.reserve(mem, false) ||
			have >= inv.cfg.StemCells[kind] && (len(inv.waiters) > 0 || !inv.reserveFree(mem)) {
			inv.mu.Unlock()
			return
		}
		inv.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := inv.startSandbox(ctx, rt, rt.Command("", nil), mem, false, inv.cfg.Network)
		cancel()
		if err != nil {
			inv.unreserve(mem)
			inv.log.Warn("starting a stem cell failed", "kind", kind, "err", err)
			return
		}
		inv.mu.Lock()
		if inv.closed {
			inv.usedMB -= mem
			inv.mu.Unlock()
			c.sb.Destroy()
			return
		}
		inv.stems[kind] = append(inv.stems[kind], c)
		inv.mu.Unlock()
	}
}

// noteDemand counts a cold start of kind that a stem cell could serve.
// Called with mu held.
func (inv *Invoker) noteDemand(kind string) {
	if inv.cfg.StemCellsMax <= 0 {
		return
	}
	d := append(inv.demand[kind], inv.now())
	if len(d) > inv.cfg.StemCellsMax {
		d = d[len(d)-inv.cfg.StemCellsMax:] // more than the bound says nothing more
	}
	inv.demand[kind] = d
}

// stemTarget is how many stem cells of kind to keep ready: the configured
// number, or its cold starts in the demand window when more, up to
// StemCellsMax. Called with mu held.
func (inv *Invoker) stemTarget(kind string) int {
	d := inv.demand[kind]
	cutoff := inv.now().Add(-inv.cfg.StemCellDemandWindow)
	i := 0
	for i < len(d) && d[i].Before(cutoff) {
		i++
	}
	if i > 0 {
		d = d[i:]
		if len(d) == 0 {
			delete(inv.demand, kind)
		} else {
			inv.demand[kind] = d
		}
	}
	return max(inv.cfg.StemCells[kind], min(len(d), inv.cfg.StemCellsMax))
}

// reserveFree takes mem only if no sandbox has to go for it. Called with mu
// held.
func (inv *Invoker) reserveFree(mem int) bool {
	if inv.usedMB+mem > inv.cfg.UserMemoryMB {
		return false
	}
	inv.usedMB += mem
	return true
}

func (inv *Invoker) reapLoop() {
	period := min(max(inv.cfg.KeepAlive/10, 50*time.Millisecond), time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-inv.stopReap:
			return
		case <-t.C:
			inv.reap()
		}
	}
}

// reap removes warm sandboxes idle for longer than KeepAlive, and the stem
// cells kept for a demand that has passed.
func (inv *Invoker) reap() {
	cutoff := inv.now().Add(-inv.cfg.KeepAlive)
	var victims []*container
	inv.mu.Lock()
	for _, list := range inv.idle {
		for _, c := range list {
			if c.inflight == 0 && c.lastUsed.Before(cutoff) {
				victims = append(victims, c)
			}
		}
	}
	for _, c := range victims {
		inv.removeIdle(c)
	}
	for kind, stems := range inv.stems {
		if extra := len(stems) - inv.stemTarget(kind); extra > 0 {
			// The oldest go first: the pool hands out its newest.
			victims = append(victims, stems[:extra]...)
			inv.stems[kind] = append(stems[:0:0], stems[extra:]...)
		}
	}
	for _, c := range victims {
		inv.usedMB -= c.memMB
	}
	if len(victims) > 0 {
		inv.wakeWaiters()
	}
	inv.mu.Unlock()
	for _, c := range victims {
		c.sb.Destroy()
	}
}

// Close stops taking work, waits for running activations until ctx ends, then
// destroys every idle sandbox. Durable work that the driver's close then cuts
// off is handed back to its queue (OnAbandoned), not recorded as failed.
func (inv *Invoker) Close(ctx context.Context) error {
	inv.mu.Lock()
	if inv.closed {
		inv.mu.Unlock()
		return nil
	}
	inv.closed = true
	inv.wakeWaiters()
	inv.mu.Unlock()
	close(inv.stopReap)

	done := make(chan struct{})
	go func() { inv.running.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		inv.abandoning.Store(true)
	}
	inv.mu.Lock()
	var all []*container
	for _, m := range []map[string][]*container{inv.idle, inv.stems} {
		for _, list := range m {
			all = append(all, list...)
		}
	}
	inv.idle = map[string][]*container{}
	inv.stems = map[string][]*container{}
	inv.mu.Unlock()
	for _, c := range all {
		c.sb.Destroy()
	}
	return err
}

// Stats is a snapshot of the pool.
type Stats struct {
	UserMemoryMB, UsedMemoryMB int
	Warm, Busy, StemCells      int
}

// Stats reports the pool's state.
func (inv *Invoker) Stats() Stats {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	s := Stats{UserMemoryMB: inv.cfg.UserMemoryMB, UsedMemoryMB: inv.usedMB}
	for _, list := range inv.idle {
		for _, c := range list {
			if c.inflight == 0 {
				s.Warm++
			}
		}
	}
	s.Busy = int(inv.busy.Load())
	for _, list := range inv.stems {
		s.StemCells += len(list)
	}
	return s
}
