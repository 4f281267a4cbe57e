// fake-socket.mjs: the WebSocket the undo and persistence tests drive by hand
// (client.test.mjs has a richer one that also checks how it is used).

/** A WebSocket the test drives: `open()`, `deliver(msg)`; `sent` holds what the client sent. */
export class FakeSocket {
  static last = null;
  constructor() {
    this.readyState = 0;
    this.sent = [];
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeSocket.last = this;
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(msg) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
}
