//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// env returns an environment variable or fails the test with how to set it.
func env(t *testing.T, name, def string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	if v == "" {
		t.Fatalf("%s is not set: run the end-to-end tests with `make e2e`, which builds the collector and fetches Jaeger and Prometheus", name)
	}
	if _, err := os.Stat(v); err != nil {
		t.Fatalf("%s=%s: %v", name, v, err)
	}
	return v
}

// freePorts reserves n distinct loopback ports (listening on all of them at once, then
// releasing them for the servers).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// server is a process the test started, in its own process group.
type server struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startServer starts a server in its own process group, logging to dir/name.log, and stops
// the whole group when the test ends, pass or fail.
func startServer(t *testing.T, dir, name string, environ []string, bin string, args ...string) *server {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), environ...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	s := &server{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("last lines of %s's log:\n%s", name, tail(logPath, 40))
		}
	})
	return s
}

// stop ends the server's process group with SIGTERM (SIGKILL after 10 s) and waits for it; a
// server that has exited already is left alone.
func (s *server) stop(t *testing.T) {
	if s.exited() {
		return
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Logf("%s did not stop on SIGTERM; killing its process group", s.name)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// getJSON GETs url and decodes a JSON answer into v; a status other than 200 is an error.
func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.300s", url, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// waitHTTP polls url until it answers 200, the server exits, or the deadline passes.
func waitHTTP(t *testing.T, s *server, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		resp, err := httpClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if s.exited() {
			t.Fatalf("%s exited before answering at %s; its log:\n%s", s.name, url, tail(s.log, 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 at %s within %s (last: %v); its log:\n%s", s.name, url, within, err, tail(s.log, 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eventually runs check every interval until it returns nil or within passes; it returns the
// last error.
func eventually(ctx context.Context, within, interval time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// logEntry is one line of a collector's log, which is written with zap's console encoding:
// time, level, caller and message separated by tabs, then the fields as one JSON object.
type logEntry struct {
	level  string
	fields map[string]any
}

// logEntries returns the lines of a server's log whose message starts with msg.
func (s *server) logEntries(t *testing.T, msg string) []logEntry {
	t.Helper()
	b, err := os.ReadFile(s.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []logEntry
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.Split(line, "\t")
		for i, p := range parts {
			if !strings.HasPrefix(p, msg) || i < 2 {
				continue
			}
			e := logEntry{level: parts[1], fields: map[string]any{}}
			if i+1 < len(parts) {
				if err := json.Unmarshal([]byte(parts[i+1]), &e.fields); err != nil {
					t.Fatalf("%s: the fields of %q: %v", s.log, line, err)
				}
			}
			out = append(out, e)
		}
	}
	return out
}
