package k8s_test

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/kedacore/keda/v2/pkg/scalers/scalersconfig"
)

// kedaRedisMetadata and kedaRedisConnection copy, field for field with their
// parsing tags, redisMetadata and redisConnectionInfo of KEDA v2.21.0
// (pkg/scalers/redis_scaler.go, unexported there; importing pkg/scalers
// would pull in every cloud SDK). KEDA's own parser, scalersconfig, reads our
// triggers into them as the redis scaler does, so a trigger that KEDA would
// refuse (a listLength that is no number, no address) fails here.
type kedaRedisMetadata struct {
	ListLength           int64               `keda:"name=listLength,           order=triggerMetadata, default=5"`
	ActivationListLength int64               `keda:"name=activationListLength, order=triggerMetadata, optional"`
	ListName             string              `keda:"name=listName,             order=triggerMetadata"`
	DatabaseIndex        int                 `keda:"name=databaseIndex,        order=triggerMetadata, optional"`
	MetadataEnableTLS    string              `keda:"name=enableTLS,            order=triggerMetadata, optional"`
	AuthParamEnableTLS   string              `keda:"name=tls,                  order=authParams, optional"`
	ConnectionInfo       kedaRedisConnection `keda:"optional"`
	//lint:ignore U1000 KEDA's parser refuses a struct without it (validateTriggerIndex)
	triggerIndex int
}

type kedaRedisConnection struct {
	Addresses        []string `keda:"name=address;addresses, order=triggerMetadata;authParams;resolvedEnv"`
	Username         string   `keda:"name=username,          order=triggerMetadata;resolvedEnv;authParams"`
	Password         string   `keda:"name=password,          order=triggerMetadata;resolvedEnv;authParams"`
	SentinelUsername string   `keda:"name=sentinelUsername,  order=triggerMetadata;authParams;resolvedEnv"`
	SentinelPassword string   `keda:"name=sentinelPassword,  order=triggerMetadata;authParams;resolvedEnv"`
	SentinelMaster   string   `keda:"name=sentinelMaster,    order=triggerMetadata;authParams;resolvedEnv"`
	Hosts            []string `keda:"name=host;hosts,        order=triggerMetadata;resolvedEnv;authParams"`
	Ports            []string `keda:"name=port;ports,        order=triggerMetadata;resolvedEnv;authParams"`
	EnableTLS        bool
	UnsafeSsl        bool   `keda:"name=unsafeSsl,   order=triggerMetadata, default=false"`
	Cert             string `keda:"name=Cert;cert,   order=authParams"`
	Key              string `keda:"name=key,         order=authParams"`
	KeyPassword      string `keda:"name=keyPassword, order=authParams"`
	Ca               string `keda:"name=ca,          order=authParams"`
}

// Validate is KEDA's redisMetadata.Validate: an address, and TLS set in one
// place at most.
func (m *kedaRedisMetadata) Validate() error {
	c := &m.ConnectionInfo
	if len(c.Hosts) != 0 && len(c.Ports) != 0 {
		if len(c.Hosts) != len(c.Ports) {
			return errors.New("not enough hosts or ports given. number of hosts should be equal to the number of ports")
		}
		for i := range c.Hosts {
			c.Addresses = append(c.Addresses, net.JoinHostPort(c.Hosts[i], c.Ports[i]))
		}
	}
	if len(c.Addresses) == 0 || len(c.Addresses[0]) == 0 {
		return errors.New("no addresses or hosts given. address should be a comma separated list of host:port or set the host/port values")
	}
	if m.MetadataEnableTLS != "" && m.AuthParamEnableTLS != "" {
		return errors.New("unable to set `tls` in both ScaledObject and TriggerAuthentication together")
	}
	return nil
}

// kedaParamNames returns the parameter names a tagged struct accepts from
// the given source (triggerMetadata or authParams).
func kedaParamNames(typ reflect.Type, order string) map[string]bool {
	names := map[string]bool{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("keda")
		if f.Type.Kind() == reflect.Struct && !strings.Contains(tag, "name=") {
			for n := range kedaParamNames(f.Type, order) {
				names[n] = true
			}
			continue
		}
		var tagNames []string
		inOrder := false
		for part := range strings.SplitSeq(tag, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "name":
				tagNames = strings.Split(v, ";")
			case "order":
				inOrder = strings.Contains(v, order)
			}
		}
		if inOrder {
			for _, n := range tagNames {
				names[n] = true
			}
		}
	}
	return names
}

// checkRedisTrigger parses one trigger with KEDA's parser, the
// TriggerAuthentication's parameters standing for the Secret's values, and
// refuses parameters the redis scaler does not know (KEDA only logs them,
// and a misspelt listLength silently becomes 5).
func checkRedisTrigger(t reporter, name string, trig kedav1alpha1.ScaleTriggers, auth *kedav1alpha1.TriggerAuthentication) {
	t.Helper()
	typ := reflect.TypeFor[kedaRedisMetadata]()
	known := kedaParamNames(typ, "triggerMetadata")
	for k := range trig.Metadata {
		if !known[k] {
			t.Errorf("ScaledObject %s: trigger metadata %q is not a parameter of KEDA's redis scaler", name, k)
		}
	}
	knownAuth := kedaParamNames(typ, "authParams")
	params := map[string]string{}
	for _, ref := range auth.Spec.SecretTargetRef {
		if !knownAuth[ref.Parameter] {
			t.Errorf("TriggerAuthentication %s: parameter %q is not one KEDA's redis scaler reads", auth.Name, ref.Parameter)
		}
		params[ref.Parameter] = "secret:" + ref.Key
	}
	if _, ok := params["address"]; ok {
		params["address"] = "valkey.example:6379" // what the Secret's key holds
	}
	sc := &scalersconfig.ScalerConfig{ScalableObjectName: name, ScalableObjectType: "ScaledObject", TriggerType: trig.Type,
		TriggerMetadata: trig.Metadata, AuthParams: params, ResolvedEnv: map[string]string{}}
	var m kedaRedisMetadata
	if err := sc.TypedConfig(&m); err != nil {
		t.Errorf("ScaledObject %s: KEDA's redis scaler refuses the trigger: %v", name, err)
		return
	}
	if m.ListLength < 1 {
		t.Errorf("ScaledObject %s: listLength %d", name, m.ListLength)
	}
	if raw := trig.Metadata["databaseIndex"]; raw != "0" {
		t.Errorf("ScaledObject %s: databaseIndex %q; VALKEY_URL's database is /0 in the README's Secret", name, raw)
	}
	if _, err := strconv.Atoi(trig.Metadata["listLength"]); err != nil {
		t.Errorf("ScaledObject %s: give listLength explicitly (KEDA's default is 5): %v", name, err)
	}
}

// reporter is the part of testing.T the checks use, so that a test can
// run a check and look at its verdict.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// verdicts records what a check reported.
type verdicts struct{ errs []string }

func (v *verdicts) Helper() {}
func (v *verdicts) Errorf(format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf(format, args...))
}

// KEDA's parser is strict where it matters: the copy of its metadata refuses
// what the scaler would, and the check refuses unknown parameters.
func TestKEDARedisTriggerParsing(t *testing.T) {
	auth := &kedav1alpha1.TriggerAuthentication{Spec: kedav1alpha1.TriggerAuthenticationSpec{
		SecretTargetRef: []kedav1alpha1.AuthSecretTargetRef{{Parameter: "address", Name: secretName, Key: "VALKEY_ADDRESS"}}}}
	good := map[string]string{"listName": "asynq:{emails}:pending", "listLength": "30", "databaseIndex": "0"}
	var v verdicts
	checkRedisTrigger(&v, "good", kedav1alpha1.ScaleTriggers{Type: "redis", Metadata: good}, auth)
	if len(v.errs) != 0 {
		t.Errorf("a good trigger was refused: %v", v.errs)
	}
	badAuth := &kedav1alpha1.TriggerAuthentication{Spec: kedav1alpha1.TriggerAuthenticationSpec{
		SecretTargetRef: []kedav1alpha1.AuthSecretTargetRef{{Parameter: "adress", Name: secretName, Key: "VALKEY_ADDRESS"}}}}
	for name, tt := range map[string]struct {
		md   map[string]string
		auth *kedav1alpha1.TriggerAuthentication
	}{
		"listLength not a number": {map[string]string{"listName": "l", "listLength": "thirty", "databaseIndex": "0"}, auth},
		"misspelt key":            {map[string]string{"listName": "l", "listlength": "30", "databaseIndex": "0"}, auth},
		"no address":              {good, &kedav1alpha1.TriggerAuthentication{}},
		"misspelt auth parameter": {good, badAuth},
	} {
		var v verdicts
		checkRedisTrigger(&v, name, kedav1alpha1.ScaleTriggers{Type: "redis", Metadata: tt.md}, tt.auth)
		if len(v.errs) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}
