package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gustfaas/gust/internal/testenv"
	"github.com/gustfaas/gust/internal/whisk"
)

// The cluster tests start real `gust controller` and `gust invoker`
// processes — this test binary, re-executed with the command line in
// childArgsEnv — against the PostgreSQL of GUST_TEST_POSTGRES (a fresh
// schema per test) and a NATS: GUST_TEST_NATS, or one the test starts from
// GUST_TEST_NATS_SERVER when it must kill it.

const childArgsEnv = "GUST_TEST_CHILD_ARGS"

// runChildCommand runs the gust command line encoded (JSON) in args.
func runChildCommand(args string) int {
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		fmt.Fprintln(os.Stderr, "bad", childArgsEnv, err)
		return 2
	}
	return run(argv, os.Stdout, os.Stderr)
}

// clusterGuestKey is the guest key every test cluster gets.
var clusterGuestKey = whisk.AuthKey{UUID: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502",
	Secret: "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"}

type clusterHarness struct {
	t      *testing.T
	store  string // PostgreSQL URL with the test's schema
	bus    string
	prefix string
	dir    string

	mu      sync.Mutex
	members []*member
}

// member is one process of the test cluster.
type member struct {
	h      *clusterHarness
	role   string
	id     string
	cmd    *exec.Cmd
	addr   string // the API (controllers) or the probes (invokers)
	log    string
	exited chan struct{}
}

// newCluster prepares a cluster on its own schema and subject prefix;
// busURL is the NATS to use.
func newCluster(t *testing.T, busURL string) *clusterHarness {
	t.Helper()
	if testing.Short() {
		t.Skip("starts cluster processes")
	}
	pg := testenv.MustHavePostgres(t)
	var b [4]byte
	rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	h := &clusterHarness{t: t, bus: busURL, prefix: "gc" + suffix, dir: t.TempDir()}
	h.store = freshClusterSchema(t, pg, "gust_cluster_"+suffix)
	t.Cleanup(func() {
		h.killAll()
		h.checkRaces()
		if t.Failed() {
			h.dumpLogs()
		}
		deleteStream(h.bus, streamName(h.prefix))
	})
	return h
}

// freshClusterSchema creates a schema and returns base with it as the
// search_path; the schema is dropped when the test ends.
func freshClusterSchema(t *testing.T, base, schema string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", base, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func deleteStream(busURL, stream string) {
	nc, err := nats.Connect(busURL, nats.Timeout(2*time.Second))
	if err != nil {
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = js.DeleteStream(ctx, stream)
}

var probeAddr = regexp.MustCompile(`http://([0-9.]+:[0-9]+)`)

// start runs `gust role` with the cluster's flags and extra ones, and waits
// for the line that says it serves.
func (h *clusterHarness) start(role, id string, extra ...string) *member {
	h.t.Helper()
	args := []string{role, "--store", h.store, "--bus", h.bus, "--bus-prefix", h.prefix, "--id", id,
		"--addr", "127.0.0.1:0", "--publish-retry", "2s", "--shutdown-grace", "5s", "--connect-wait", "10s"}
	switch role {
	case "controller":
		args = append(args, "--guest-key", clusterGuestKey.String(),
			"--invocations-per-minute", "0", "--concurrent-invocations", "0", "--fires-per-minute", "0",
			"--invalidation-wait", "3s")
	case "invoker":
		args = append(args, "--data", filepath.Join(h.dir, id), "--memory", "1GiB", "--stem-cells", "",
			"--sandbox", "process", "--ack-wait", "3s")
	}
	args = append(args, extra...)
	enc, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(enc))
	logPath := filepath.Join(h.dir, fmt.Sprintf("%s-%s-%d.log", role, id, time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.Stderr = logFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	m := &member{h: h, role: role, id: id, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		logFile.Close()
		close(m.exited)
	}()
	h.mu.Lock()
	h.members = append(h.members, m)
	h.mu.Unlock()
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		l, _ := r.ReadString('\n')
		line <- l
		io.Copy(io.Discard, r)
	}()
	select {
	case l := <-line:
		match := probeAddr.FindStringSubmatch(l)
		if match == nil {
			h.t.Fatalf("%s %s did not start: %q\n%s", role, id, l, tail(logPath, 30))
		}
		m.addr = match[1]
	case <-time.After(90 * time.Second):
		h.t.Fatalf("%s %s did not start in 90 s\n%s", role, id, tail(logPath, 30))
	}
	return m
}

func (h *clusterHarness) controller(id string, extra ...string) *member {
	return h.start("controller", id, extra...)
}

func (h *clusterHarness) invoker(id string, extra ...string) *member {
	return h.start("invoker", id, extra...)
}

// kill sends SIGKILL and waits for the process to be gone.
func (m *member) kill() {
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
}

// stop sends SIGTERM and waits for a graceful exit.
func (m *member) stop() {
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		m.h.t.Errorf("%s %s did not stop within 30 s of SIGTERM", m.role, m.id)
		m.kill()
	}
}

func (h *clusterHarness) killAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.members {
		select {
		case <-m.exited:
		default:
			m.cmd.Process.Signal(syscall.SIGKILL)
			<-m.exited
		}
	}
}

// checkRaces fails the test when the race detector (go test -race builds
// the children too) reported in a child's log.
func (h *clusterHarness) checkRaces() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.members {
		if data, _ := os.ReadFile(m.log); bytes.Contains(data, []byte("WARNING: DATA RACE")) {
			h.t.Errorf("%s %s: data race (log %s)", m.role, m.id, m.log)
		}
	}
}

func (h *clusterHarness) dumpLogs() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.members {
		h.t.Logf("--- %s %s (%s)\n%s", m.role, m.id, m.log, tail(m.log, 40))
	}
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// api is a client of a controller's API with the guest key, failing t.
func (m *member) api(t testing.TB) *testServer {
	return &testServer{t: t, base: "http://" + m.addr, key: clusterGuestKey}
}

// members runs `gust admin invokers` (or controllers) in process.
func (h *clusterHarness) admin(what string) []memberView {
	h.t.Helper()
	var out, errb bytes.Buffer
	if code := run([]string{"admin", what, "--bus", h.bus, "--bus-prefix", h.prefix, "--wait", "700ms", "-o", "json"}, &out, &errb); code != 0 {
		h.t.Fatalf("gust admin %s: exit %d: %s", what, code, errb.String())
	}
	var views []memberView
	if err := json.Unmarshal(out.Bytes(), &views); err != nil {
		h.t.Fatalf("gust admin %s: %v\n%s", what, err, out.String())
	}
	return views
}

// waitMembers waits until the healthy members of role are exactly ids.
func (h *clusterHarness) waitMembers(what string, ids ...string) []memberView {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		views := h.admin(what)
		var healthy []string
		for _, v := range views {
			if v.State == "healthy" {
				healthy = append(healthy, v.ID)
			}
		}
		if strings.Join(healthy, ",") == strings.Join(ids, ",") {
			return views
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("healthy %s: %v, want %v", what, healthy, ids)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rawPost is a request that may fail at the transport (a killed process).
func rawPost(client *http.Client, base, path string, body any) (int, []byte, error) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", base+path, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(clusterGuestKey.String())))
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// load sends non-blocking invocations until stopped and keeps what came
// back.
type load struct {
	mu       sync.Mutex
	accepted []string    // activation ids answered 202
	statuses map[int]int // HTTP status → count; 0 = transport error
	first202 time.Time   // the first 202 after resetAt
	resetAt  time.Time
	stop     chan struct{}
	done     sync.WaitGroup
}

// startLoad runs workers that invoke actions (round robin) through bases
// (round robin), non-blocking, with params.
func startLoad(bases []string, actions []string, workers int, pause time.Duration, params func(i int) map[string]any) *load {
	l := &load{statuses: map[int]int{}, stop: make(chan struct{})}
	client := &http.Client{Timeout: 20 * time.Second}
	for w := range workers {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for i := w; ; i += workers {
				select {
				case <-l.stop:
					return
				default:
				}
				base := bases[i%len(bases)]
				action := actions[i%len(actions)]
				status, body, err := rawPost(client, base, "/api/v1/namespaces/_/actions/"+action, params(i))
				if err != nil {
					status = 0
				}
				l.mu.Lock()
				l.statuses[status]++
				if status == 202 {
					var r struct {
						ActivationID string `json:"activationId"`
					}
					if json.Unmarshal(body, &r) == nil && r.ActivationID != "" {
						l.accepted = append(l.accepted, r.ActivationID)
					}
					if l.first202.IsZero() && !l.resetAt.IsZero() {
						l.first202 = time.Now()
					}
				}
				l.mu.Unlock()
				switch {
				case status != 202:
					time.Sleep(50 * time.Millisecond) // refused or down: do not spin
				case pause > 0:
					time.Sleep(pause)
				}
			}
		}()
	}
	return l
}

func (l *load) halt() {
	close(l.stop)
	l.done.Wait()
}

// markRecovery starts timing the first 202 from now.
func (l *load) markRecovery() {
	l.mu.Lock()
	l.resetAt, l.first202 = time.Now(), time.Time{}
	l.mu.Unlock()
}

func (l *load) snapshot() ([]string, map[int]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := make(map[int]int, len(l.statuses))
	for k, v := range l.statuses {
		st[k] = v
	}
	return append([]string(nil), l.accepted...), st
}

// countRecords reads, straight from the store, how many records each of
// ids has, waiting until every one has at least one or within has passed.
func (h *clusterHarness) countRecords(ids []string, within time.Duration) (map[string]int, time.Duration) {
	h.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, h.store)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	began := time.Now()
	for {
		counts := map[string]int{}
		rows, err := conn.Query(ctx, `SELECT activation_id, count(*) FROM activations WHERE activation_id = ANY($1) GROUP BY activation_id`, ids)
		if err != nil {
			h.t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				h.t.Fatal(err)
			}
			counts[id] = n
		}
		if err := rows.Err(); err != nil {
			h.t.Fatal(err)
		}
		if len(counts) == len(ids) || time.Since(began) > within {
			return counts, time.Since(began)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// executions reads the log the test actions append their activation ids to
// and counts the runs of each.
func executions(path string) map[string]int {
	data, _ := os.ReadFile(path)
	out := map[string]int{}
	for _, l := range strings.Fields(string(data)) {
		out[l]++
	}
	return out
}

// report prints and checks what a fault test promises (RELIABILITY.md):
// every accepted activation recorded, once.
func (h *clusterHarness) report(t *testing.T, name string, accepted []string, statuses map[int]int, runLog string, within time.Duration) {
	t.Helper()
	counts, took := h.countRecords(accepted, within)
	runs := executions(runLog) // once everything is recorded: reruns included
	lost, dups, repeated := 0, 0, 0
	for _, id := range accepted {
		switch n := counts[id]; {
		case n == 0:
			lost++
			if lost <= 5 {
				t.Errorf("%s: accepted activation %s has no record", name, id)
			}
		case n > 1:
			dups++
		}
		if runs != nil && runs[id] > 1 {
			repeated++
		}
	}
	t.Logf("%s: accepted=%d recorded=%d lost=%d duplicates=%d repeated-executions=%d statuses=%v all-recorded-after=%v",
		name, len(accepted), len(counts), lost, dups, repeated, statuses, took.Round(100*time.Millisecond))
	if lost > 5 {
		t.Errorf("%s: %d accepted activations have no record", name, lost)
	}
	if dups > 0 {
		t.Errorf("%s: %d activations have more than one record", name, dups)
	}
}

// freePort returns a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// natsServer is a nats-server the test owns, with RELIABILITY.md's
// settings, so that it can kill and restart it.
type natsServer struct {
	t    *testing.T
	bin  string
	conf string
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startNATSServer(t *testing.T) *natsServer {
	t.Helper()
	bin := testenv.MustHaveEnv(t, "GUST_TEST_NATS_SERVER", "a nats-server ≥ 2.12.3 binary the test may kill (.ci/run builds one)")
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n", port, filepath.Join(dir, "js"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &natsServer{t: t, bin: bin, conf: conf, url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *natsServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "-c", s.conf)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	done := s.done
	go func() { s.cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := nats.Connect(s.url, nats.Timeout(time.Second))
		if err == nil {
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server at %s did not come up: %v", s.url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *natsServer) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

// tcpProxy stands between the cluster and PostgreSQL, so that a test can
// make the database unreachable (connections reset, new ones refused) and
// bring it back, without stopping a server other tests share.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[u] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

// down refuses new connections and resets the open ones.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// up listens again on the same address.
func (p *tcpProxy) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
}

var errNoRecord = errors.New("no record")

// waitRecord polls a controller for the record of id.
func waitRecord(base, id string, within time.Duration) (whisk.Activation, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequest("GET", base+"/api/v1/namespaces/_/activations/"+id, nil)
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(clusterGuestKey.String())))
		if resp, err := client.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				var act whisk.Activation
				err := json.Unmarshal(body, &act)
				return act, err
			}
		}
		if time.Now().After(deadline) {
			return whisk.Activation{}, errNoRecord
		}
		time.Sleep(100 * time.Millisecond)
	}
}
