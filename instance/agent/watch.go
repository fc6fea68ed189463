package agent

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// watch follows the instance's own MessengerInstance (a field selector on metadata.name: the
// Role allows nothing else) until ctx ends; the informer re-lists and re-watches after errors.
func (a *Agent) watch(ctx context.Context) {
	selector := fields.OneTermEqualSelector("metadata.name", a.opts.Name).String()
	lw := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return a.res.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return a.res.Watch(ctx, o)
		},
	}
	_, informer := toolscache.NewInformerWithOptions(toolscache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &unstructured.Unstructured{},
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { a.observe(obj) },
			UpdateFunc: func(_, obj any) { a.observe(obj) },
			DeleteFunc: func(any) {},
		},
	})
	informer.RunWithContext(ctx)
}

// observe records the latest resource and wakes the spec applier and the status writer.
func (a *Agent) observe(obj any) {
	mi, err := toTyped(obj)
	if err != nil {
		a.log.Error("decoding the MessengerInstance", "error", err)
		return
	}
	holder := a.lease.Allowed()
	a.mu.Lock()
	first := a.current == nil
	recreated := !first && a.current.UID != mi.UID
	a.current = mi
	if first || !holder || recreated {
		// The Lease holder handles logouts and records them in status; a process starts from
		// what status says was handled, and follows it until it holds the Lease.
		a.handled = mi.Status.LastHandledLogout
	}
	a.mu.Unlock()
	if recreated {
		a.forget()
	}
	signal(a.specWake)
	signal(a.wake)
}

// toTyped converts an informer object into a MessengerInstance.
func toTyped(obj any) (*v1alpha1.MessengerInstance, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	mi := &v1alpha1.MessengerInstance{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, mi); err != nil {
		return nil, fmt.Errorf("converting %s: %w", u.GetName(), err)
	}
	return mi, nil
}
