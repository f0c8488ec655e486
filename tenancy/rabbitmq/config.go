package rabbitmq

import (
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/termshift/termshift"
)

// Config tells a Carver how to reach the RabbitMQ broker.
type Config struct {
	// AMQPURL locates the broker's AMQP listener, e.g.
	// "amqp://127.0.0.1:5672/". Only its scheme, host and port are used:
	// carves and probes log in with the release's own credential.
	AMQPURL string
	// ManagementURL is the management plugin's HTTP API, e.g.
	// "http://127.0.0.1:15672".
	ManagementURL      string
	ManagementUser     string
	ManagementPassword termshift.Secret
	// Timeout bounds each management API request and AMQP handshake;
	// default 30s.
	Timeout time.Duration
}

const defaultTimeout = 30 * time.Second

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return defaultTimeout
}

// amqpAddr returns the AMQP URL without credentials or vhost, and host:port.
func (c Config) amqpAddr() (string, string, error) {
	u, err := url.Parse(c.AMQPURL)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		// url.Parse's error quotes the URL, which may hold a password.
		return "", "", fmt.Errorf("rabbitmq config: AMQP URL must be amqp://host:port or amqps://host:port: %w", termshift.ErrInvalid)
	}
	port := u.Port()
	if port == "" {
		port = "5672"
		if u.Scheme == "amqps" {
			port = "5671"
		}
	}
	hostPort := net.JoinHostPort(u.Hostname(), port)
	return u.Scheme + "://" + hostPort + "/", hostPort, nil
}

func (c Config) managementHost() (string, error) {
	u, err := url.Parse(c.ManagementURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("rabbitmq config: management URL must be http(s)://host:port without credentials: %w", termshift.ErrInvalid)
	}
	return u.Host, nil
}
