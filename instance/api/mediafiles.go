package api

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"
)

// serveMedia serves a media file to holders of the token or of the link's signature.
func (s *Server) serveMedia(c *gin.Context) {
	rel := strings.TrimPrefix(c.Param("file"), "/")
	if !s.tokenOK(c) && !s.opts.Media.Verify(rel, c.Query("sig")) {
		abort(c, http.StatusUnauthorized, "missing or wrong token or link signature")
		return
	}
	path, err := s.opts.Media.Path(rel)
	if err != nil {
		abort(c, http.StatusNotFound, "no such file")
		return
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			abort(c, http.StatusNotFound, "no such file (media is kept for a limited time)")
			return
		}
		abort(c, http.StatusInternalServerError, "could not open the file")
		return
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil || info.IsDir() {
		abort(c, http.StatusNotFound, "no such file")
		return
	}
	ct := mime.TypeByExtension(filepath.Ext(path))
	if ct == "" {
		ct = "application/octet-stream"
	}
	c.Header("Content-Type", ct)
	c.Header("X-Content-Type-Options", "nosniff")
	// Files come from other people: nothing may run on this origin, and only pictures, video and
	// sound are shown inline.
	c.Header("Content-Security-Policy", "default-src 'none'; sandbox")
	if strings.HasPrefix(ct, "image/") || strings.HasPrefix(ct, "video/") || strings.HasPrefix(ct, "audio/") {
		c.Header("Content-Disposition", "inline")
	} else {
		c.Header("Content-Disposition", "attachment")
	}
	http.ServeContent(c.Writer, c.Request, filepath.Base(path), info.ModTime(), f)
}
