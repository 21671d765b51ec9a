// The SDK (Rust, compiled to WebAssembly) and the JSON shapes it returns. Every method of the
// wasm `Client` answers JSON text; errors are JSON `{code, message}`.
import init, { Client } from './wasm/zynk_web.js';
import { eraseDevice, saveDevice } from './store';

export { Client };

let ready: Promise<unknown> | undefined;
export function loadSdk(): Promise<unknown> {
  ready ??= init();
  return ready;
}

export interface ZynkError {
  code: string;
  message: string;
}

export function errorOf(e: unknown): ZynkError {
  if (typeof e === 'string') {
    try {
      const parsed = JSON.parse(e);
      if (parsed && typeof parsed.code === 'string') return parsed;
    } catch {
      /* not JSON */
    }
    return { code: 'error', message: e };
  }
  if (e instanceof Error) return { code: 'error', message: e.message };
  return { code: 'error', message: String(e) };
}

export async function j<T>(p: Promise<unknown>): Promise<T> {
  const value = await p;
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

export interface Whoami {
  username: string;
  user_id: string;
  device_id: string;
  server_url: string;
  identity_key: string;
  device_key: string;
}

export interface ConversationView {
  conversation_id: string;
  type: 'one_to_one' | 'group';
  with: string[];
  group?: { group_id: string; name: string };
  unread: number;
  last_seq: number;
  request_state: 'accepted' | 'pending' | 'declined';
  updated_at: string;
}

export interface RequestView {
  username: string;
  user_id: string;
  conversation_id: string;
  unread: number;
  updated_at: string;
}

export interface MessageView {
  id: string;
  conversation_id: string;
  seq: number;
  sender: string;
  sender_id: string;
  text: string | null;
  sent_at: string;
  edited: boolean;
  deleted: boolean;
  reactions: Record<string, string[]>;
  reply_to: string | null;
  undecryptable: string | null;
  mentions: string[];
  expires_at: string | null;
  event?: { action: string; user: string; by: string; role: string };
  file?: { name: string; size: number; mime_type: string };
}

export interface CallParticipant {
  user_id: string;
  state?: string;
}

export interface Call {
  call_id: string;
  status: string;
  call_type: 'audio' | 'video';
  conversation_id: string | null;
  initiator_id: string | null;
  participants: CallParticipant[];
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  duration_seconds: number | null;
}

export type CallSignal =
  | { type: 'offer'; call_id: string; sdp: string }
  | { type: 'answer'; call_id: string; sdp: string }
  | { type: 'candidate'; call_id: string; candidate: string; sdp_mid: string | null; sdp_m_line_index: number | null }
  | { type: 'hangup'; call_id: string };

export type LiveEvent =
  | { type: 'connected' }
  | { type: 'messages'; updates: MessageView[] }
  | { type: 'typing'; conversation_id: string; username: string; user_id: string; typing: boolean }
  | { type: 'presence'; username: string; user_id: string; status: string; last_seen_at: string | null }
  | { type: 'receipt'; conversation_id: string; user_id: string; last_delivered_seq: number; last_read_seq: number | null }
  | { type: 'expired'; conversation_id: string; message_id: string }
  | { type: 'call'; event: string; call: Call }
  | { type: 'call_signals'; signals: { sender_user_id: string; sender_device_id: string; signal: CallSignal }[] }
  | { type: 'warning'; message: string };

/// Writes of the sealed state, in order.
let writes: Promise<void> = Promise.resolve();
export function persistFor(username: string): (bytes: Uint8Array) => void {
  return (bytes: Uint8Array) => {
    const copy = new Uint8Array(bytes);
    writes = writes.then(() => saveDevice({ username, bytes: copy })).catch((e) => console.error('saving the device state', e));
  };
}

export async function forgetDevice(): Promise<void> {
  await writes;
  await eraseDevice();
}

export function serverUrl(): string {
  return location.origin;
}

export function wsUrl(): string {
  return location.origin.replace(/^http/, 'ws') + '/api/v1/ws';
}
