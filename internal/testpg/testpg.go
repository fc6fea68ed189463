// Package testpg starts a throw-away PostgreSQL server from the machine's packages for tests: a
// fresh cluster in a temporary directory on a free loopback port, shared by all tests of one test
// binary (start it lazily with Shared, stop it from TestMain with Main), and one new database per
// test.
package testpg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

// Server is a running PostgreSQL cluster.
type Server struct {
	dir    string
	port   int
	asUser string // non-empty: run the server's tools as this user (we are root)
	bin    string
	admin  *sql.DB
	dbSeq  atomic.Int64
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns the test binary's server, starting it on first use. It fails the test if
// PostgreSQL cannot be started.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		t.Fatalf("starting PostgreSQL for the test: %v (install it with apt-get install -y postgresql)", sharedErr)
	}
	return shared
}

// Main runs the tests and then stops the shared server if one was started: call it from TestMain
// as os.Exit(testpg.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// FindBin returns the directory holding initdb and pg_ctl: the newest /usr/lib/postgresql/*/bin,
// else the directory of initdb on PATH.
func FindBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("initdb not found in /usr/lib/postgresql/*/bin nor on PATH")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start creates and starts a new cluster.
func Start() (*Server, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run its tools as the postgres user.
		s.asUser = "postgres"
	}
	if s.dir, err = os.MkdirTemp("", "testpg-"); err != nil {
		return nil, fmt.Errorf("creating cluster directory: %w", err)
	}
	if err := s.chown(); err != nil {
		s.removeDir()
		return nil, err
	}
	if err := s.initAndStart(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) chown() error {
	if s.asUser == "" {
		return nil
	}
	u, err := user.Lookup(s.asUser)
	if err != nil {
		return fmt.Errorf("looking up user %s: %w", s.asUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(s.dir, uid, gid); err != nil {
		return fmt.Errorf("giving %s to %s: %w", s.dir, s.asUser, err)
	}
	return nil
}

func (s *Server) initAndStart() error {
	data := filepath.Join(s.dir, "data")
	if out, err := s.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	var lastErr error
	for range 5 { // a port picked free may be taken before the server binds it: retry
		port, err := testenv.FreePort()
		if err != nil {
			return err
		}
		s.port = port
		opts := fmt.Sprintf("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=on", s.dir, port)
		out, err := s.run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "start")
		if err == nil {
			return s.connectAdmin()
		}
		lastErr = fmt.Errorf("pg_ctl start: %w: %s", err, out)
	}
	return lastErr
}

func (s *Server) connectAdmin() error {
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("opening admin connection: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return fmt.Errorf("connecting to the test server: %w", err)
	}
	s.admin = db
	return nil
}

func (s *Server) run(tool string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, tool)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

// DSN returns the URL of database name on this server.
func (s *Server) DSN(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// NewDatabase creates an empty database for one test and returns its URL; it is dropped when the
// test ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), s.dbSeq.Add(1))
	if _, err := s.admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := s.admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}

// Stop stops the server and removes its files.
func (s *Server) Stop() {
	if s.admin != nil {
		_ = s.admin.Close()
	}
	if s.port != 0 {
		_, _ = s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop")
	}
	s.removeDir()
}

func (s *Server) removeDir() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// Restart restarts the server (pg_ctl restart -m fast): connections are cut, the data stays.
func (s *Server) Restart() error {
	data := filepath.Join(s.dir, "data")
	if out, err := s.run("pg_ctl", "-D", data, "-l", filepath.Join(s.dir, "log"), "-m", "fast", "-w", "-t", "60", "restart"); err != nil {
		return fmt.Errorf("pg_ctl restart: %w: %s", err, out)
	}
	return nil
}
