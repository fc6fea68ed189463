// Package argocd holds the Argo CD resource customizations of MessengerInstance (health check and
// the reboot and logout actions, in Argo CD's resource_customizations layout) and the test that
// runs them with gopher-lua, the Lua interpreter Argo CD embeds.
package argocd
