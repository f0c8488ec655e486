package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RunWorker consumes the release's queue and records every task in
// demo_tasks until ctx is done. A task is acknowledged only after its row is
// committed, and recorded at most once (task_id is unique), so redelivery
// after a crash is harmless. A lost connection is dialled again.
func RunWorker(ctx context.Context, b *backends, log *slog.Logger) error {
	backoff := 500 * time.Millisecond
	for {
		err := consume(ctx, b, log)
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("worker lost its queue; reconnecting", "queue", b.cfg.RabbitMQ.Queue, "err", b.redact.String(err), "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func consume(ctx context.Context, b *backends, log *slog.Logger) error {
	conn, err := amqp.DialConfig(b.cfg.RabbitMQ.URL.Reveal(), amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Dial:       amqp.DefaultDial(3 * time.Second),
		Properties: amqp.Table{"connection_name": "demo-lms worker"},
	})
	if err != nil {
		return fmt.Errorf("dial rabbitmq: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Qos(10, 0, false); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	if err := declareQueue(ch, b.cfg.RabbitMQ.Queue); err != nil {
		return fmt.Errorf("declare queue %s: %w", b.cfg.RabbitMQ.Queue, err)
	}
	const tag = "demo-lms-worker"
	deliveries, err := ch.ConsumeWithContext(ctx, b.cfg.RabbitMQ.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", b.cfg.RabbitMQ.Queue, err)
	}
	log.Info("worker consuming", "queue", b.cfg.RabbitMQ.Queue)
	for {
		select {
		case <-ctx.Done():
			// Stop new deliveries; unacknowledged ones go back to the queue
			// when the channel closes.
			_ = ch.Cancel(tag, false)
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("delivery channel closed by the broker")
			}
			if err := handleDelivery(ctx, b, d, log); err != nil {
				return err
			}
		}
	}
}

func handleDelivery(ctx context.Context, b *backends, d amqp.Delivery, log *slog.Logger) error {
	t, err := parseTask(d)
	if err != nil {
		log.Error("rejecting message", "queue", b.cfg.RabbitMQ.Queue, "err", err)
		return d.Reject(false)
	}
	// The insert must finish even when shutdown has begun, so the ack is
	// not lost for a row that was written.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err = b.db.ExecContext(wctx, `INSERT IGNORE INTO demo_tasks (task_id, name, args, queue, received) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6))`,
		t.ID, t.Name, string(t.Args), b.cfg.RabbitMQ.Queue)
	if err != nil {
		log.Error("record task failed; requeueing", "task", t.ID, "err", b.redact.String(err))
		if nerr := d.Nack(false, true); nerr != nil {
			return nerr
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		return nil
	}
	log.Info("task done", "task", t.ID, "name", t.Name)
	return d.Ack(false)
}
