// Package tests holds the install tests: the Helm chart rendered and linted with the Helm SDK and
// config/default built with kustomize, both applied with server-side dry run to envtest.
package tests
