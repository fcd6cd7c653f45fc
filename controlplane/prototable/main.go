// Command prototable writes nonstop/sandbox/protobuf_types.json: for each Kubernetes type the
// sandbox decodes from a protobuf request body, its fields' protobuf numbers, JSON names, kinds and
// the Go facts that decide how encoding/json writes them (pointer, omitempty, inline). It reads the
// k8s.io/api and k8s.io/apimachinery types of the pinned module version by reflection; the table it
// writes is the sandbox's own compact data. Run it from this directory: `go run . > ../../nonstop/sandbox/protobuf_types.json`.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// roots: apiVersion/kind → an object of the type a protobuf body of that kind decodes into.
var roots = map[string]any{
	"v1/Namespace":                           corev1.Namespace{},
	"v1/Node":                                corev1.Node{},
	"v1/Pod":                                 corev1.Pod{},
	"v1/Service":                             corev1.Service{},
	"v1/Endpoints":                           corev1.Endpoints{},
	"v1/Event":                               corev1.Event{},
	"v1/ConfigMap":                           corev1.ConfigMap{},
	"v1/Secret":                              corev1.Secret{},
	"v1/ServiceAccount":                      corev1.ServiceAccount{},
	"v1/DeleteOptions":                       metav1.DeleteOptions{},
	"apps/v1/Deployment":                     appsv1.Deployment{},
	"apps/v1/ReplicaSet":                     appsv1.ReplicaSet{},
	"apps/v1/StatefulSet":                    appsv1.StatefulSet{},
	"discovery.k8s.io/v1/EndpointSlice":      discoveryv1.EndpointSlice{},
	"events.k8s.io/v1/Event":                 eventsv1.Event{},
	"policy/v1/PodDisruptionBudget":          policyv1.PodDisruptionBudget{},
	"policy/v1/Eviction":                     policyv1.Eviction{},
	"autoscaling/v1/HorizontalPodAutoscaler": autoscalingv1.HorizontalPodAutoscaler{},
	"autoscaling/v1/Scale":                   autoscalingv1.Scale{},
	"autoscaling/v2/HorizontalPodAutoscaler": autoscalingv2.HorizontalPodAutoscaler{},
	"coordination.k8s.io/v1/Lease":           coordinationv1.Lease{},
	"authorization.k8s.io/v1/SelfSubjectAccessReview": authorizationv1.SelfSubjectAccessReview{},
	"authentication.k8s.io/v1/SelfSubjectReview":      authenticationv1.SelfSubjectReview{},
	"meta.k8s.io/v1/DeleteOptions":                    metav1.DeleteOptions{},
	"rbac.authorization.k8s.io/v1/Role":               rbacv1.Role{},
	"rbac.authorization.k8s.io/v1/RoleBinding":        rbacv1.RoleBinding{},
	"rbac.authorization.k8s.io/v1/ClusterRole":        rbacv1.ClusterRole{},
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": rbacv1.ClusterRoleBinding{},
}

// special: types with their own protobuf message and JSON form, decoded by name in protobuf.py.
var special = map[reflect.Type]string{
	reflect.TypeOf(metav1.Time{}):          "Time",
	reflect.TypeOf(metav1.MicroTime{}):     "MicroTime",
	reflect.TypeOf(metav1.FieldsV1{}):      "Raw",
	reflect.TypeOf(runtime.RawExtension{}): "Raw",
	reflect.TypeOf(resource.Quantity{}):    "Quantity",
	reflect.TypeOf(intstr.IntOrString{}):   "IntOrString",
}

var types = map[string][][]any{}

func name(t reflect.Type) string {
	path := t.PkgPath()
	for _, prefix := range []string{"k8s.io/api/", "k8s.io/apimachinery/pkg/apis/"} {
		path = strings.TrimPrefix(path, prefix)
	}
	return path + "." + t.Name()
}

// kind is the field's value kind: a scalar name, a special name, `map:<key>:<value>` or a type name.
func kind(t reflect.Type) string {
	if s, ok := special[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int32, reflect.Int64, reflect.Int:
		return "int"
	case reflect.Uint32, reflect.Uint64:
		return "uint"
	case reflect.Float64:
		return "double"
	case reflect.Map:
		return "map:" + kind(t.Key()) + ":" + valueKind(t.Elem())
	case reflect.Struct:
		visit(t)
		return name(t)
	}
	panic(fmt.Sprintf("prototable: no kind for %s", t))
}

func valueKind(t reflect.Type) string {
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return "bytes"
	}
	if t.Kind() == reflect.Slice {
		return "list:" + kind(t.Elem()) // map[string][]string: a message with repeated field 1
	}
	return kind(t)
}

func visit(t reflect.Type) {
	if _, done := types[name(t)]; done {
		return
	}
	types[name(t)] = nil // mark before recursing (types refer to themselves: JSONSchemaProps-like trees)
	var fields [][]any
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("protobuf")
		if tag == "" || tag == "-" {
			continue // TypeMeta and other fields the protobuf form does not carry
		}
		number, err := strconv.Atoi(strings.Split(tag, ",")[1])
		if err != nil {
			panic(err)
		}
		jsonTag := strings.Split(f.Tag.Get("json"), ",")
		flags := ""
		if strings.Contains(f.Tag.Get("json"), ",omitempty") {
			flags += "o"
		}
		if jsonTag[0] == "" {
			flags += "i" // inline: the message's fields are the parent's in JSON
		}
		ft := f.Type
		if ft.Kind() == reflect.Ptr {
			flags += "p"
			ft = ft.Elem()
		}
		var k string
		switch {
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Uint8:
			k = "bytes"
		case ft.Kind() == reflect.Slice:
			flags += "r"
			k = kind(ft.Elem())
		default:
			k = kind(ft)
		}
		fields = append(fields, []any{number, jsonTag[0], k, flags})
	}
	types[name(t)] = fields
}

func main() {
	rootNames := map[string]string{}
	keys := make([]string, 0, len(roots))
	for k := range roots {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := reflect.TypeOf(roots[k])
		visit(t)
		rootNames[k] = name(t)
	}
	out := map[string]any{"source": "k8s.io/api and k8s.io/apimachinery v0.33.13, by controlplane/prototable", "roots": rootNames, "types": types}
	data, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(append(data, '\n'))
}
