package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcpgate/mcpgate/internal/testtools"
)

// Server is a running PostgreSQL server.
type Server struct {
	// Addr is "127.0.0.1:PORT".
	Addr     string
	password string
	mu       sync.Mutex
}

// superuser is the role initdb creates, with the test's password.
const superuser = "mcpgate"

// Bin returns the directory holding initdb and postgres, failing or
// skipping t (testtools.Missing) when there is none.
func Bin(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("MCPGATE_PG_BIN")
	if dir == "" {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		slices.SortFunc(found, func(a, b string) int { return majorOf(b) - majorOf(a) })
		if len(found) > 0 {
			dir = found[0]
		}
	}
	for _, tool := range []string{"initdb", "postgres"} {
		if err := testtools.IsExecutable(filepath.Join(dir, tool)); err != nil {
			testtools.Missing(t, "PostgreSQL", err.Error())
		}
	}
	return dir
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start runs a PostgreSQL server until the end of t.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Bin(t)
	cred := unprivileged(t)
	dir := ownedTempDir(t, cred)
	s := &Server{password: rand.Text()}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chown(t, pwfile, cred)
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", superuser, "--pwfile", pwfile,
		"--auth", "scram-sha-256", "-E", "UTF8", "--no-sync", "--locale", "C")
	asUser(initdb, cred, dir)
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.Addr = testtools.StartListening(t, "postgres", func(addr string) *exec.Cmd {
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", port,
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
		asUser(cmd, cred, dir)
		return cmd
	})
	s.waitReady(t)
	return s
}

// waitReady waits until the server accepts sessions: it listens a little
// before it has finished starting up.
func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(testtools.StartTimeout)
	for {
		conn, err := s.connect()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres: not ready after %v: %v", testtools.StartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) connect() (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return pgx.Connect(ctx, s.DSN("postgres"))
}

// DSN returns the URL of database db (the server has "postgres").
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", superuser, s.password, s.Addr, db)
}

// NewDatabase creates a database of its own for t and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	s.mu.Lock() // CREATE DATABASE copies template1: one at a time
	defer s.mu.Unlock()
	ctx := context.Background()
	conn, err := s.connect()
	if err != nil {
		t.Fatalf("postgres: connect: %v", err)
	}
	defer conn.Close(ctx)
	name := "t_" + strings.ToLower(rand.Text())[:16]
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("postgres: create database: %v", err)
	}
	return s.DSN(name)
}

// unprivileged returns the credential to run PostgreSQL with: nil when the
// test does not run as root, else mcpgatepg's or nobody's.
func unprivileged(t testing.TB) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	for _, name := range []string{"mcpgatepg", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	testtools.Missing(t, "PostgreSQL", "running as root and no unprivileged user (mcpgatepg or nobody) to run it as")
	return nil
}

// ownedTempDir returns a fresh directory that cred's user owns, removed in
// t.Cleanup. (t.TempDir's parent is private to the test's user.)
func ownedTempDir(t testing.TB, cred *syscall.Credential) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mcpgate-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	chown(t, dir, cred)
	return dir
}

func chown(t testing.TB, path string, cred *syscall.Credential) {
	t.Helper()
	if cred == nil {
		return
	}
	if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		t.Fatal(err)
	}
}

// asUser runs cmd as cred's user with a minimal environment.
func asUser(cmd *exec.Cmd, cred *syscall.Credential, home string) {
	cmd.Dir = home
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "LC_ALL=C"}
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
}
