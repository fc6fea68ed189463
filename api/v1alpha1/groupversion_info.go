// Package v1alpha1 holds the v1alpha1 API of the messenger-operator.io group: the
// MessengerInstance custom resource, one WhatsApp account run by the operator.
//
// +kubebuilder:object:generate=true
// +kubebuilder:ac:generate=true
// +groupName=messenger-operator.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "messenger-operator.io", Version: "v1alpha1"}

	// SchemeGroupVersion is GroupVersion under the name generated code (apply configurations) expects.
	SchemeGroupVersion = GroupVersion

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
