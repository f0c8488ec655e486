package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The LMS's tasks travel as Celery protocol 2 messages: the task name and id
// in the headers, [args, kwargs, embed] as the JSON body, so a real Celery
// worker could read the queue too.
const enrollTaskName = "common.djangoapps.student.tasks.send_enrollment_confirmation"

// Task is one message of the queue as the worker records it.
type Task struct {
	ID   string
	Name string
	Args json.RawMessage // [args, kwargs]
}

func newTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func celeryMessage(id, name string, args []any, kwargs map[string]any) (amqp.Publishing, error) {
	body, err := json.Marshal([]any{args, kwargs, map[string]any{"callbacks": nil, "errbacks": nil, "chain": nil, "chord": nil}})
	if err != nil {
		return amqp.Publishing{}, fmt.Errorf("encode task %s: %w", name, err)
	}
	return amqp.Publishing{
		ContentType:     "application/json",
		ContentEncoding: "utf-8",
		CorrelationId:   id,
		MessageId:       id,
		Headers: amqp.Table{
			"lang": "py", "task": name, "id": id, "root_id": id,
			"retries": int32(0), "origin": "demo-lms",
		},
		Body: body,
	}, nil
}

// parseTask reads a Celery protocol 2 message.
func parseTask(d amqp.Delivery) (Task, error) {
	id, _ := d.Headers["id"].(string)
	name, _ := d.Headers["task"].(string)
	if id == "" || name == "" {
		return Task{}, errors.New("not a celery protocol 2 message: headers id and task are required")
	}
	var body []json.RawMessage
	if err := json.Unmarshal(d.Body, &body); err != nil || len(body) < 2 {
		return Task{}, fmt.Errorf("task %s: body is not [args, kwargs, embed]", id)
	}
	args, err := json.Marshal(body[:2])
	if err != nil {
		return Task{}, fmt.Errorf("task %s: %w", id, err)
	}
	return Task{ID: id, Name: name, Args: args}, nil
}
