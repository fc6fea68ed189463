package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/store"
)

// abortFileStore answers a failure writing a file into the media directory: 507 Insufficient
// Storage when the volume is full (the client may retry once space is freed), else 503.
func (s *Server) abortFileStore(c *gin.Context, err error, what string) {
	if store.IsNoSpace(err) {
		s.log.Error("storing "+what+": storage full", "error", err)
		abort(c, http.StatusInsufficientStorage, "could not store the %s: no space left on the storage volume; retry once space is freed", what)
		return
	}
	s.log.Error("storing "+what, "error", err)
	abort(c, http.StatusServiceUnavailable, "could not store the %s", what)
}
