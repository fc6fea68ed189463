package benchutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// ServeSandbox is the child side of a bench program's -serve: an in-memory sandbox that prints
// its URL and runs until stdin closes (the parent holds it, so the sandbox never outlives the
// benchmark).
func ServeSandbox() error {
	srv, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		return fmt.Errorf("starting sandbox: %w", err)
	}
	defer func() { _ = srv.Close() }()
	fmt.Println(srv.URL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// StartSandboxChild re-executes the program as its -serve child (ServeSandbox) and returns the
// child and the sandbox URL it announced.
func StartSandboxChild(ctx context.Context) (*Child, string, error) {
	child, line, err := StartChild(ctx)
	if err != nil {
		return nil, "", err
	}
	if !strings.HasPrefix(line, "http") {
		child.Stop()
		return nil, "", fmt.Errorf("sandbox child did not announce its URL (%q)", line)
	}
	return child, strings.TrimSpace(line), nil
}
