package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.mau.fi/whatsmeow/util/keys"
)

// snapshot is the persisted network: trust root, accounts with devices and offline queues, groups.
type snapshot struct {
	RootPriv []byte     `json:"rootPriv"`
	Accounts []*account `json:"accounts"`
	Groups   []*group   `json:"groups"`
}

const snapshotFile = "network.json"

// saveInterval is how often a changed network is written to disk.
const saveInterval = 200 * time.Millisecond

// loadState reads the persisted network, if any. It returns the persisted trust root (a new one
// for a new data directory), or nil for an in-memory sandbox.
func (s *Server) loadState() (*keys.KeyPair, error) {
	dir := s.opts.DataDir
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, snapshotFile))
	if errors.Is(err, fs.ErrNotExist) {
		root := keys.NewKeyPair()
		s.rootPriv = root.Priv[:]
		s.dirty = true
		return root, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", snapshotFile, err)
	}
	var snap snapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", snapshotFile, err)
	}
	if len(snap.RootPriv) != 32 {
		return nil, fmt.Errorf("%s has no valid root key", snapshotFile)
	}
	for _, a := range snap.Accounts {
		if a.Devices == nil {
			a.Devices = map[uint16]*device{}
		}
		for _, d := range a.Devices {
			d.acct = a
		}
		s.byPhone[a.Phone], s.byLID[a.LID] = a, a
	}
	for _, g := range snap.Groups {
		s.groups[g.ID] = g
	}
	s.rootPriv = snap.RootPriv
	return keys.NewKeyPairFromPrivateKey([32]byte(snap.RootPriv)), nil
}

// saveLoop writes the network whenever it changed, and once more when the sandbox stops.
func (s *Server) saveLoop() {
	defer close(s.saveDone)
	if s.opts.DataDir == "" {
		<-s.ctx.Done()
		return
	}
	tick := time.NewTicker(saveInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-s.ctx.Done():
			s.waitServing()
			s.save()
			return
		}
		s.save()
	}
}

func (s *Server) save() {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return
	}
	snap := snapshot{RootPriv: s.rootPriv}
	for _, a := range s.byPhone {
		if len(a.Devices) > 0 {
			snap.Accounts = append(snap.Accounts, a)
		}
	}
	for _, g := range s.groups {
		snap.Groups = append(snap.Groups, g)
	}
	raw, err := json.Marshal(snap)
	s.dirty = false
	s.mu.Unlock()
	if err == nil {
		err = writeAtomic(filepath.Join(s.opts.DataDir, snapshotFile), raw)
	}
	if err != nil {
		s.log.Error("saving sandbox network", "err", err)
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
	}
}

// writeAtomic replaces path with data so that a crash leaves the old or the new file, never half.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// closeWait bounds how long a stopping sandbox waits for its client connections to end.
const closeWait = 10 * time.Second

// waitServing waits (at most closeWait) until every client connection's handler has returned,
// so that the last save holds everything the sandbox acknowledged.
func (s *Server) waitServing() {
	done := make(chan struct{})
	go func() { s.serving.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait):
		s.log.Warn("saving while client connections are still being served")
	}
}
