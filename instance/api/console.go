package api

import (
	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/console"
)

// mountConsole serves the web console (package console) at /console. It does its own
// authentication (a session cookie from its login form, or Bearer) and reads everything through
// this server's own handler, in-process.
func (s *Server) mountConsole(r *gin.Engine) error {
	c, err := console.New(console.Options{API: r, Engine: s.opts.Engine, Token: s.opts.Token, Logger: s.log})
	if err != nil {
		return err
	}
	h := gin.WrapH(c)
	r.GET(console.Prefix, h)
	r.GET(console.Prefix+"/*path", h)
	r.POST(console.Prefix+"/*path", h)
	return nil
}
