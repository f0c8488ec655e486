package rollout

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/termshift/termshift/rollout/envfile"
)

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	tests := []struct {
		name   string
		auth   *envfile.AdminAuth
		header string // Authorization
		user   string
		pass   string
		want   int
	}{
		{name: "no auth configured", want: http.StatusTeapot},
		{name: "bearer", auth: &envfile.AdminAuth{Token: "tok-0123456789abcdef"}, header: "Bearer tok-0123456789abcdef", want: http.StatusTeapot},
		{name: "wrong bearer", auth: &envfile.AdminAuth{Token: "tok-0123456789abcdef"}, header: "Bearer tok-0123456789abcdeX", want: http.StatusUnauthorized},
		{name: "bearer missing", auth: &envfile.AdminAuth{Token: "tok-0123456789abcdef"}, want: http.StatusUnauthorized},
		{name: "basic", auth: &envfile.AdminAuth{User: "ops", Password: "pw-1234"}, user: "ops", pass: "pw-1234", want: http.StatusTeapot},
		{name: "basic wrong user", auth: &envfile.AdminAuth{User: "ops", Password: "pw-1234"}, user: "qa", pass: "pw-1234", want: http.StatusUnauthorized},
		{name: "either: basic", auth: &envfile.AdminAuth{User: "ops", Password: "pw-1234", Token: "tok-0123456789abcdef"}, user: "ops", pass: "pw-1234", want: http.StatusTeapot},
		{name: "either: bearer", auth: &envfile.AdminAuth{User: "ops", Password: "pw-1234", Token: "tok-0123456789abcdef"}, header: "Bearer tok-0123456789abcdef", want: http.StatusTeapot},
		{name: "token as basic password", auth: &envfile.AdminAuth{Token: "tok-0123456789abcdef"}, user: "", pass: "tok-0123456789abcdef", want: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/_termshift/", nil)
		if tt.header != "" {
			req.Header.Set("Authorization", tt.header)
		}
		if tt.user != "" || tt.pass != "" {
			req.SetBasicAuth(tt.user, tt.pass)
		}
		rec := httptest.NewRecorder()
		adminAuth(tt.auth, ok).ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, rec.Code, tt.want)
		}
		if rec.Code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tt.name)
		}
	}
}
