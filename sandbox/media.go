package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
)

const (
	// mediaHost is the host name the sandbox hands out for media; a sandbox client's transport
	// sends every host to the sandbox anyway.
	mediaHost = "mmg.sandbox.invalid"
	// maxMedia caps one uploaded file.
	maxMedia = 64 << 20
)

// mediaStore keeps uploaded (encrypted) media blobs, on disk when the sandbox is persistent.
type mediaStore struct {
	dir string
	mu  sync.RWMutex
	mem map[string][]byte
}

func newMediaStore(dataDir string) (*mediaStore, error) {
	m := &mediaStore{mem: map[string][]byte{}}
	if dataDir != "" {
		m.dir = filepath.Join(dataDir, "media")
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating media directory: %w", err)
		}
	}
	return m, nil
}

func (m *mediaStore) put(id string, data []byte) error {
	if m.dir != "" {
		tmp := filepath.Join(m.dir, id+".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(m.dir, id))
	}
	m.mu.Lock()
	m.mem[id] = data
	m.mu.Unlock()
	return nil
}

func (m *mediaStore) get(id string) ([]byte, bool) {
	if m.dir != "" {
		data, err := os.ReadFile(filepath.Join(m.dir, id))
		return data, err == nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	data, ok := m.mem[id]
	return data, ok
}

var mediaID = regexp.MustCompile(`^[0-9A-F]{32}$`)

// handleUpload stores an encrypted media upload (POST /mms/<type>/<token>?auth=…).
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("auth") != s.mediaAuth {
		http.Error(w, "bad media auth", http.StatusUnauthorized)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMedia))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "media too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading upload", http.StatusBadRequest)
		return
	}
	id := randomID(16)
	if err := s.media.put(id, data); err != nil {
		http.Error(w, "storing upload", http.StatusInternalServerError)
		return
	}
	path := "/media/" + id + "?sandbox=1"
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"url": "https://" + mediaHost + path, "direct_path": path, "handle": id, "object_id": id,
	})
}

// handleDownload serves a stored media blob.
func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !mediaID.MatchString(id) {
		http.NotFound(w, r)
		return
	}
	data, ok := s.media.get(id)
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(data)
}
