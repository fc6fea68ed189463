package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
)

// Labels and keys of API key Secrets.
const (
	// LabelAPIKeyFor marks a Secret as an API key of the instance it names (same namespace).
	LabelAPIKeyFor = "messenger-operator.io/api-key-for"
	// KeyData is the Secret key holding the API key.
	KeyData = "key"
	// ScopesData is the Secret key holding the comma-separated scopes (read, send, admin).
	ScopesData = "scopes"
	// RateData and BurstData override the key's default limit.
	RateData  = "rate"
	BurstData = "burst"
)

// apiKeyIndex indexes API key Secrets by the SHA-256 of their key, so a presented key is found
// without comparing it against every Secret.
const apiKeyIndex = "apiKeySHA256"

// keyHash is the index value of a key.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// indexAPIKey is the index function of apiKeyIndex.
func indexAPIKey(obj client.Object) []string {
	s, ok := obj.(*corev1.Secret)
	if !ok || s.Labels[LabelAPIKeyFor] == "" || len(s.Data[KeyData]) == 0 {
		return nil
	}
	return []string{keyHash(string(s.Data[KeyData]))}
}

// bulkySecretTypes are Secrets the gateway never needs: their data is dropped from the cache.
var bulkySecretTypes = map[corev1.SecretType]bool{
	"helm.sh/release.v1":                 true,
	corev1.SecretTypeServiceAccountToken: true,
	corev1.SecretTypeDockerConfigJson:    true,
	corev1.SecretTypeDockercfg:           true,
	corev1.SecretTypeTLS:                 true,
	corev1.SecretTypeBootstrapToken:      true,
	corev1.SecretTypeSSHAuth:             true,
	corev1.SecretTypeBasicAuth:           true,
}

// trimSecret keeps the cache small: no managed fields, no data of Secret types that hold neither
// tokens nor API keys.
func trimSecret(obj any) (any, error) {
	if s, ok := obj.(*corev1.Secret); ok {
		s.ManagedFields = nil
		if bulkySecretTypes[s.Type] {
			s.Data, s.StringData = nil, nil
		}
	}
	return obj, nil
}

// trimInstance drops what routing never reads (managed fields, the QR code).
func trimInstance(obj any) (any, error) {
	if mi, ok := obj.(*v1alpha1.MessengerInstance); ok {
		mi.ManagedFields = nil
		mi.Status.QRCode = ""
	}
	return obj, nil
}

// newCache builds the informer cache of MessengerInstances and Secrets with their indexes.
func newCache(cfg *rest.Config, namespaces []string) (cache.Cache, error) {
	scheme, err := controllers.NewScheme()
	if err != nil {
		return nil, err
	}
	opts := cache.Options{
		Scheme: scheme,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:              {Transform: trimSecret},
			&v1alpha1.MessengerInstance{}: {Transform: trimInstance},
		},
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("gateway cache: %w", err)
	}
	ctx := context.Background()
	if err := c.IndexField(ctx, &v1alpha1.MessengerInstance{}, controllers.InstanceIDIndex, controllers.IndexInstanceID); err != nil {
		return nil, fmt.Errorf("indexing MessengerInstances by instanceId: %w", err)
	}
	if err := c.IndexField(ctx, &corev1.Secret{}, apiKeyIndex, indexAPIKey); err != nil {
		return nil, fmt.Errorf("indexing API key Secrets: %w", err)
	}
	return c, nil
}
