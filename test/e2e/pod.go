package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

// Environment overrides the node applies to every container, the only ways in which a pod runs
// differently here than in a cluster: it listens on its own loopback port (the Pod's IP is
// 127.0.0.1, so each pod needs a distinct port), and since webhook receivers run on this machine
// too, the SSRF guard lets the instance reach private addresses.
const (
	envListen       = "MESSENGER_LISTEN"
	envAllowPrivate = "MESSENGER_ALLOW_PRIVATE_ADDRESSES"
)

// podDir is the folder of one pod (its emptyDirs, kubeconfig and log).
func (n *Node) podDir(pod *corev1.Pod) string {
	return filepath.Join(n.opts.Dir, "pods", pod.Namespace, pod.Name, string(pod.UID))
}

// claimDir holds the namespace's PersistentVolumeClaims, one folder per claim; they outlive pods.
func (n *Node) claimDir(ns string) string { return filepath.Join(n.opts.Dir, "claims", ns) }

// ClaimPath is the folder that backs PersistentVolumeClaim ns/claim.
func (n *Node) ClaimPath(ns, claim string) string { return filepath.Join(n.claimDir(ns), claim) }

// resolve turns the pod's first container into a local command: the command and args of the
// template, its environment with downward-API, Secret and ConfigMap values filled in, volume
// mount paths mapped to folders under podDir (claims under claimRoot), and a kubeconfig holding a
// token of the pod's ServiceAccount.
func (n *Node) resolve(ctx context.Context, pod *corev1.Pod, port int, podDir, claimRoot string) (launch, error) {
	c := pod.Spec.Containers[0]
	if err := os.MkdirAll(podDir, 0o755); err != nil {
		return launch{}, fmt.Errorf("pod folder: %w", err)
	}
	mounts, err := n.mountVolumes(ctx, pod, podDir, claimRoot)
	if err != nil {
		return launch{}, err
	}
	env, err := n.environment(ctx, pod, c)
	if err != nil {
		return launch{}, err
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	kubeconfig := filepath.Join(podDir, "kubeconfig")
	if err := writeServiceAccountKubeconfig(ctx, n.admin, n.cfg, pod.Namespace, sa, kubeconfig); err != nil {
		return launch{}, err
	}
	l := launch{container: c.Name, image: c.Image, dir: podDir, logPath: filepath.Join(podDir, c.Name+".log"),
		grace: 30 * time.Second, probeEvery: n.opts.ProbeEvery}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		l.grace = time.Duration(*g) * time.Second
	}
	if rp := c.ReadinessProbe; rp != nil && rp.HTTPGet != nil {
		l.probePath = rp.HTTPGet.Path
	}
	cmd := append(append([]string{}, c.Command...), c.Args...)
	if len(c.Command) == 0 {
		cmd = append([]string{"messenger-operator"}, c.Args...) // the image's entrypoint
	}
	if l.path, err = n.executable(cmd[0]); err != nil {
		return launch{}, err
	}
	for _, a := range cmd[1:] {
		l.args = append(l.args, mapPath(a, mounts))
	}
	for k, v := range env {
		env[k] = mapPath(v, mounts)
	}
	env["PATH"], env["HOME"], env["KUBECONFIG"] = os.Getenv("PATH"), podDir, kubeconfig
	env[envListen], env[envAllowPrivate] = fmt.Sprintf("127.0.0.1:%d", port), "true"
	if tmp, ok := mounts["/tmp"]; ok {
		env["TMPDIR"] = tmp
	}
	for k, v := range env {
		l.env = append(l.env, k+"="+v)
	}
	sort.Strings(l.env)
	return l, nil
}

// executable maps the container's command to a local file: the messenger-operator binary for
// the image's own command, else the command found in PATH.
func (n *Node) executable(name string) (string, error) {
	if filepath.Base(name) == "messenger-operator" {
		return n.opts.Binary, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("container command %q: %w", name, err)
	}
	return p, nil
}

// mountVolumes makes a folder for each mounted volume and returns mount path → folder.
func (n *Node) mountVolumes(ctx context.Context, pod *corev1.Pod, podDir, claimRoot string) (map[string]string, error) {
	dirs := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		var dir string
		switch {
		case v.EmptyDir != nil:
			dir = filepath.Join(podDir, "volumes", v.Name)
		case v.PersistentVolumeClaim != nil:
			dir = filepath.Join(claimRoot, v.PersistentVolumeClaim.ClaimName)
		case v.Secret != nil || v.ConfigMap != nil:
			dir = filepath.Join(podDir, "volumes", v.Name)
			if err := n.writeKeys(ctx, pod.Namespace, v, dir); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("volume %q: only emptyDir, persistentVolumeClaim, secret and configMap volumes run on this node", v.Name)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		dirs[v.Name] = dir
	}
	mounts := map[string]string{}
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		dir, ok := dirs[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %q: no such volume", m.Name)
		}
		mounts[filepath.Clean(m.MountPath)] = filepath.Join(dir, m.SubPath)
	}
	return mounts, nil
}

// writeKeys writes the keys of a Secret or ConfigMap volume as files.
func (n *Node) writeKeys(ctx context.Context, ns string, v corev1.Volume, dir string) error {
	data := map[string][]byte{}
	if s := v.Secret; s != nil {
		secret := &corev1.Secret{}
		if err := n.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.SecretName}, secret); err != nil {
			return fmt.Errorf("secret volume %q: %w", v.Name, err)
		}
		data = secret.Data
	} else {
		cm := &corev1.ConfigMap{}
		if err := n.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: v.ConfigMap.Name}, cm); err != nil {
			return fmt.Errorf("configMap volume %q: %w", v.Name, err)
		}
		for k, val := range cm.Data {
			data[k] = []byte(val)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for k, val := range data {
		if err := os.WriteFile(filepath.Join(dir, k), val, 0o600); err != nil {
			return fmt.Errorf("volume %q key %q: %w", v.Name, k, err)
		}
	}
	return nil
}

// mapPath rewrites a value that names a mounted path (or a file under it) to the local folder.
func mapPath(v string, mounts map[string]string) string {
	best := ""
	for mp := range mounts {
		if (v == mp || strings.HasPrefix(v, mp+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	if best == "" {
		return v
	}
	return mounts[best] + strings.TrimPrefix(v, best)
}

// environment resolves the container's env and envFrom.
func (n *Node) environment(ctx context.Context, pod *corev1.Pod, c corev1.Container) (map[string]string, error) {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		vals, err := n.envFrom(ctx, pod.Namespace, from)
		if err != nil {
			return nil, err
		}
		for k, v := range vals {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
			continue
		}
		v, ok, err := n.envValue(ctx, pod, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			env[e.Name] = v
		}
	}
	return env, nil
}

// envValue resolves one valueFrom; ok is false for an optional reference that is missing.
func (n *Node) envValue(ctx context.Context, pod *corev1.Pod, src *corev1.EnvVarSource) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := fieldValue(pod, src.FieldRef.FieldPath)
		return v, err == nil, err
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		secret := &corev1.Secret{}
		if err := n.admin.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: ref.Name}, secret); err != nil {
			return "", false, optional(ref.Optional, fmt.Errorf("secret %q: %w", ref.Name, err))
		}
		v, ok := secret.Data[ref.Key]
		if !ok {
			return "", false, optional(ref.Optional, fmt.Errorf("secret %q has no key %q", ref.Name, ref.Key))
		}
		return string(v), true, nil
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm := &corev1.ConfigMap{}
		if err := n.admin.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: ref.Name}, cm); err != nil {
			return "", false, optional(ref.Optional, fmt.Errorf("configMap %q: %w", ref.Name, err))
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			return "", false, optional(ref.Optional, fmt.Errorf("configMap %q has no key %q", ref.Name, ref.Key))
		}
		return v, true, nil
	}
	return "", false, fmt.Errorf("unsupported valueFrom (resourceFieldRef and fileKeyRef do not run on this node)")
}

// optional drops the error of a missing reference marked optional.
func optional(opt *bool, err error) error {
	if opt != nil && *opt {
		return nil
	}
	return err
}

// envFrom resolves one envFrom source.
func (n *Node) envFrom(ctx context.Context, ns string, from corev1.EnvFromSource) (map[string]string, error) {
	out := map[string]string{}
	switch {
	case from.SecretRef != nil:
		s := &corev1.Secret{}
		if err := n.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.SecretRef.Name}, s); err != nil {
			return nil, optional(from.SecretRef.Optional, fmt.Errorf("envFrom secret %q: %w", from.SecretRef.Name, err))
		}
		for k, v := range s.Data {
			out[k] = string(v)
		}
	case from.ConfigMapRef != nil:
		cm := &corev1.ConfigMap{}
		if err := n.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.ConfigMapRef.Name}, cm); err != nil {
			return nil, optional(from.ConfigMapRef.Optional, fmt.Errorf("envFrom configMap %q: %w", from.ConfigMapRef.Name, err))
		}
		for k, v := range cm.Data {
			out[k] = v
		}
	}
	return out, nil
}

// fieldValue is the downward API: the pod fields a fieldRef may name.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	if key, ok := bracketKey(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := bracketKey(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.hostIP":
		return "127.0.0.1", nil
	}
	return "", fmt.Errorf("fieldRef %q is not supported", path)
}

// bracketKey parses prefix['key'].
func bracketKey(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// StartCopy starts another process from the template of running pod ns/name, on its own port and
// in folder dir (claims under dir/claims), without a Pod object: a second process of the same
// instance, as a forced pod deletion or a partition would leave behind.
func (n *Node) StartCopy(ctx context.Context, ns, name, dir string) (*Process, error) {
	pod := &corev1.Pod{}
	if err := n.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod); err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", ns, name, err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	l, err := n.resolve(ctx, pod, port, dir, filepath.Join(dir, "claims"))
	if err != nil {
		return nil, err
	}
	return startProcess(l, pod, port, n.log.With("copyOf", ns+"/"+name), func(*Process) {}), nil
}
