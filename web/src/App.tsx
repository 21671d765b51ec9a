import { useEffect, useRef, useState } from 'preact/hooks';
import { CallSession, CallView } from './calls';
import { saveFile, sendFile, thumbnailUrl } from './files';
import { loadDevice } from './store';
import {
  Call,
  Client,
  ConversationView,
  LiveEvent,
  MessageView,
  RequestView,
  Whoami,
  errorOf,
  forgetDevice,
  j,
  loadSdk,
  persistFor,
  serverUrl,
  wsUrl,
} from './zynk';

type Status = 'connecting' | 'online' | 'offline';

export function App() {
  const [client, setClient] = useState<Client | null>(null);
  const [me, setMe] = useState<Whoami | null>(null);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    loadSdk().then(() => setReady(true));
  }, []);
  if (!ready) return <p class="loading" role="status">Loading…</p>;
  if (!client || !me)
    return (
      <SignIn
        onSignedIn={(c, who) => {
          setClient(c);
          setMe(who);
        }}
      />
    );
  return (
    <Main
      client={client}
      me={me}
      onSignedOut={() => {
        setClient(null);
        setMe(null);
      }}
    />
  );
}

function SignIn({ onSignedIn }: { onSignedIn: (c: Client, me: Whoami) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [stored, setStored] = useState<string | null>(null);
  useEffect(() => {
    loadDevice().then((d) => {
      if (d) {
        setStored(d.username);
        setUsername(d.username);
      }
    });
  }, []);

  async function go(kind: 'register' | 'login') {
    setBusy(true);
    setError('');
    try {
      const name = username.trim();
      let client: Client;
      const device = await loadDevice();
      if (kind === 'login' && device && device.username.toLowerCase() === name.toLowerCase()) {
        // This browser already is a device of the account: unlock its state.
        client = Client.unlock(device.bytes, password, persistFor(device.username));
      } else if (kind === 'register') {
        client = await Client.register(serverUrl(), name, password, browserName(), persistFor(name));
      } else {
        client = await Client.login(serverUrl(), name, password, browserName(), persistFor(name));
      }
      const me = await j<Whoami>(client.whoami());
      onSignedIn(client, me);
    } catch (e) {
      setError(errorOf(e).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="signin">
      <h1>Zynk</h1>
      <p class="muted">End-to-end encrypted messaging. Your password never leaves this browser.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void go('login');
        }}
      >
        <label>
          Username
          <input
            data-testid="username"
            name="username"
            autocomplete="username"
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
            required
          />
        </label>
        <label>
          Password
          <input
            data-testid="password"
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
            required
          />
        </label>
        {stored && <p class="muted">This browser holds {stored}'s device: log in to unlock it.</p>}
        <div class="row">
          <button data-testid="login" type="submit" disabled={busy}>
            Log in
          </button>
          <button data-testid="register" type="button" disabled={busy} onClick={() => void go('register')}>
            Create account
          </button>
        </div>
        {busy && <p role="status">Working… (deriving keys from the password)</p>}
        {error && (
          <p class="error" role="alert" data-testid="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function browserName(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom/.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  return `${browser} (web)`;
}

interface Receipts {
  [conversation: string]: { [user: string]: { delivered: number; read: number } };
}

function Main({ client, me, onSignedOut }: { client: Client; me: Whoami; onSignedOut: () => void }) {
  const [status, setStatus] = useState<Status>('connecting');
  const [conversations, setConversations] = useState<ConversationView[]>([]);
  const [requests, setRequests] = useState<RequestView[]>([]);
  const [current, setCurrent] = useState<string | null>(null);
  const [timeline, setTimeline] = useState<MessageView[]>([]);
  const [lastMessages, setLastMessages] = useState<Record<string, string>>({});
  const [typing, setTyping] = useState<Record<string, string[]>>({});
  const [presence, setPresence] = useState<Record<string, string>>({});
  const [receipts, setReceipts] = useState<Receipts>({});
  const [notice, setNotice] = useState('');
  const [panel, setPanel] = useState<'chats' | 'settings'>('chats');
  const [call, setCall] = useState<CallView | null>(null);
  const session = useRef<CallSession | null>(null);
  const currentRef = useRef<string | null>(null);
  currentRef.current = current;
  const stopped = useRef(false);

  const fail = (e: unknown) => setNotice(errorOf(e).message);

  async function refreshLists() {
    const [list, reqs] = await Promise.all([
      j<ConversationView[]>(client.conversations()),
      j<RequestView[]>(client.requests()),
    ]);
    setConversations(list);
    setRequests(reqs);
  }

  async function refreshTimeline(id: string | null = currentRef.current) {
    if (!id) return;
    const items = await j<MessageView[]>(client.timeline(id));
    if (currentRef.current === id) setTimeline(items);
    const last = items.filter((m) => !m.event).at(-1);
    if (last) setLastMessages((prev) => ({ ...prev, [id]: summary(last) }));
    if (document.visibilityState === 'visible' && currentRef.current === id) {
      await client.mark_read(id).catch(() => undefined);
    }
  }

  function onEvent(text: string) {
    const event = JSON.parse(text) as LiveEvent;
    switch (event.type) {
      case 'connected':
        setStatus('online');
        break;
      case 'messages': {
        const touched = new Set(event.updates.map((m) => m.conversation_id));
        for (const m of event.updates) setLastMessages((prev) => ({ ...prev, [m.conversation_id]: summary(m) }));
        if (currentRef.current && touched.has(currentRef.current)) void refreshTimeline();
        void refreshLists().catch(fail);
        break;
      }
      case 'typing':
        setTyping((prev) => {
          const others = (prev[event.conversation_id] ?? []).filter((u) => u !== event.username);
          return { ...prev, [event.conversation_id]: event.typing ? [...others, event.username] : others };
        });
        break;
      case 'presence':
        setPresence((prev) => ({ ...prev, [event.username]: event.status }));
        break;
      case 'receipt':
        setReceipts((prev) => ({
          ...prev,
          [event.conversation_id]: {
            ...(prev[event.conversation_id] ?? {}),
            [event.user_id]: { delivered: event.last_delivered_seq, read: event.last_read_seq ?? 0 },
          },
        }));
        break;
      case 'expired':
        if (currentRef.current === event.conversation_id) void refreshTimeline();
        break;
      case 'call':
        onCallEvent(event.call);
        break;
      case 'call_signals':
        for (const s of event.signals) {
          if (session.current && s.signal.call_id === session.current.id) void session.current.onSignal(s.signal).catch(fail);
        }
        break;
      case 'warning':
        console.warn(event.message);
        break;
    }
  }

  function onCallEvent(c: Call) {
    const existing = session.current;
    if (existing && existing.id === c.call_id) {
      existing.update(c);
      return;
    }
    if (c.status === 'ringing' && c.initiator_id !== me.user_id && !existing) {
      const s = new CallSession(client, me.user_id, c, true, setCall);
      session.current = s;
      setCall(s.view);
    }
  }

  // Catch up, then keep the WebSocket open; after a drop, catch up again and reconnect.
  useEffect(() => {
    stopped.current = false;
    let delay = 500;
    let heartbeat = 0;
    async function loop() {
      while (!stopped.current) {
        setStatus('connecting');
        try {
          await client.sync();
          await refreshLists();
          await refreshTimeline();
          heartbeat = window.setInterval(() => void client.ping(), 20000);
          const started = Date.now();
          await client.run_events(wsUrl(), onEvent);
          if (Date.now() - started > 10000) delay = 500;
        } catch (e) {
          const err = errorOf(e);
          if (err.code === 'session_ended') {
            setNotice('This device was signed out. Log in again.');
            stopped.current = true;
            break;
          }
        } finally {
          window.clearInterval(heartbeat);
        }
        if (stopped.current) break;
        setStatus('offline');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15000);
      }
    }
    void loop();
    const visibility = () => void client.set_away(document.visibilityState !== 'visible');
    document.addEventListener('visibilitychange', visibility);
    return () => {
      stopped.current = true;
      document.removeEventListener('visibilitychange', visibility);
    };
  }, [client]);

  useEffect(() => {
    setTimeline([]);
    void refreshTimeline(current).catch(fail);
  }, [current]);

  async function logout() {
    stopped.current = true;
    try {
      await client.logout();
    } catch (e) {
      fail(e);
    }
    await forgetDevice();
    onSignedOut();
  }

  const conv = conversations.find((c) => c.conversation_id === current) ?? null;
  const request = requests.find((r) => r.conversation_id === current) ?? null;

  return (
    <div class={`shell ${current ? 'has-current' : ''}`}>
      <aside class="sidebar" aria-label="Conversations">
        <header class="bar">
          <strong>{me.username}</strong>
          <span class={`status ${status}`} data-testid="connection" role="status">
            {status}
          </span>
          <nav class="row">
            <button type="button" aria-pressed={panel === 'chats'} onClick={() => setPanel('chats')}>
              Chats
            </button>
            <button type="button" aria-pressed={panel === 'settings'} onClick={() => setPanel('settings')} data-testid="settings">
              Settings
            </button>
          </nav>
        </header>
        {panel === 'chats' ? (
          <>
            <OpenConversation client={client} onOpened={(id) => { setCurrent(id); void refreshLists(); }} onError={fail} />
            <NewGroup client={client} onCreated={(id) => { setCurrent(id); void refreshLists(); }} onError={fail} />
            {requests.length > 0 && (
              <section aria-label="Message requests">
                <h2>Requests</h2>
                <ul class="list">
                  {requests.map((r) => (
                    <li key={r.conversation_id}>
                      <button type="button" class="link" data-testid="request" onClick={() => setCurrent(r.conversation_id)}>
                        {r.username} <span class="badge">{r.unread}</span>
                      </button>
                    </li>
                  ))}
                </ul>
              </section>
            )}
            <ul class="list" aria-label="Conversation list">
              {conversations.map((c) => (
                <li key={c.conversation_id}>
                  <button
                    type="button"
                    class={`conversation ${c.conversation_id === current ? 'selected' : ''}`}
                    data-testid="conversation"
                    onClick={() => setCurrent(c.conversation_id)}
                  >
                    <span class="name">
                      {title(c)}
                      {c.type === 'one_to_one' && presence[c.with[0]] && <span class={`dot ${presence[c.with[0]]}`} title={presence[c.with[0]]} />}
                    </span>
                    <span class="last muted">{lastMessages[c.conversation_id] ?? ''}</span>
                    {c.unread > 0 && (
                      <span class="badge" data-testid="unread" aria-label={`${c.unread} unread`}>
                        {c.unread}
                      </span>
                    )}
                  </button>
                </li>
              ))}
            </ul>
          </>
        ) : (
          <Settings client={client} me={me} onLogout={() => void logout()} onError={fail} />
        )}
        {notice && (
          <p class="error" role="alert" onClick={() => setNotice('')}>
            {notice}
          </p>
        )}
      </aside>
      <main class="pane">
        {call && (
          <CallPanel
            view={call}
            session={session.current}
            onClose={() => {
              session.current = null;
              setCall(null);
            }}
            onError={fail}
          />
        )}
        {current ? (
          <Conversation
            key={current}
            client={client}
            me={me}
            id={current}
            conv={conv}
            request={request}
            timeline={timeline}
            typing={typing[current] ?? []}
            receipts={receipts[current] ?? {}}
            onBack={() => setCurrent(null)}
            onChanged={() => {
              void refreshTimeline();
              void refreshLists();
            }}
            onCall={async (video) => {
              try {
                const c = await j<Call>(client.start_call(current, video));
                const s = new CallSession(client, me.user_id, c, false, setCall);
                session.current = s;
                setCall(s.view);
                await s.start();
              } catch (e) {
                fail(e);
              }
            }}
            onError={fail}
          />
        ) : (
          <p class="empty muted">Choose a conversation, or start one with a username.</p>
        )}
      </main>
    </div>
  );
}

function title(c: ConversationView): string {
  return c.group ? c.group.name : c.with.join(', ') || '(just you)';
}

function summary(m: MessageView): string {
  if (m.deleted) return 'message deleted';
  if (m.file) return `📎 ${m.file.name}`;
  return `${m.sender}: ${m.text ?? '…'}`;
}

function OpenConversation({ client, onOpened, onError }: { client: Client; onOpened: (id: string) => void; onError: (e: unknown) => void }) {
  const [name, setName] = useState('');
  return (
    <form
      class="row"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const id = (await client.open_conversation(name)) as string;
          setName('');
          onOpened(id);
        } catch (err) {
          onError(err);
        }
      }}
    >
      <label class="grow">
        <span class="sr-only">Username to talk to</span>
        <input data-testid="contact" placeholder="Username" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <button data-testid="open-conversation" type="submit">
        Open
      </button>
    </form>
  );
}

function NewGroup({ client, onCreated, onError }: { client: Client; onCreated: (id: string) => void; onError: (e: unknown) => void }) {
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  return (
    <details class="group-form">
      <summary>New group</summary>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const list = members.split(/[\s,]+/).filter(Boolean);
            const group = await j<{ conversation_id: string }>(client.create_group(name, JSON.stringify(list)));
            setName('');
            setMembers('');
            onCreated(group.conversation_id);
          } catch (err) {
            onError(err);
          }
        }}
      >
        <label>
          Group name
          <input data-testid="group-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        </label>
        <label>
          Members (usernames, comma-separated)
          <input data-testid="group-members" value={members} onInput={(e) => setMembers(e.currentTarget.value)} />
        </label>
        <button data-testid="create-group" type="submit">
          Create group
        </button>
      </form>
    </details>
  );
}

interface ConversationProps {
  client: Client;
  me: Whoami;
  id: string;
  conv: ConversationView | null;
  request: RequestView | null;
  timeline: MessageView[];
  typing: string[];
  receipts: { [user: string]: { delivered: number; read: number } };
  onBack: () => void;
  onChanged: () => void;
  onCall: (video: boolean) => void;
  onError: (e: unknown) => void;
}

function Conversation(p: ConversationProps) {
  const [text, setText] = useState('');
  const [replyTo, setReplyTo] = useState<MessageView | null>(null);
  const [editing, setEditing] = useState<MessageView | null>(null);
  const [expires, setExpires] = useState(0);
  const [info, setInfo] = useState('');
  const [upload, setUpload] = useState('');
  const [safety, setSafety] = useState('');
  const lastTyping = useRef(0);
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => end.current?.scrollIntoView({ block: 'end' }), [p.timeline.length]);

  async function send() {
    const body = text.trim();
    if (!body) return;
    try {
      if (editing) await p.client.edit(editing.id, body);
      else if (replyTo) await p.client.reply(replyTo.id, body);
      else await p.client.send_text(p.id, body, expires);
      setText('');
      setReplyTo(null);
      setEditing(null);
      lastTyping.current = 0;
      void p.client.typing(p.id, false);
      p.onChanged();
    } catch (e) {
      p.onError(e);
    }
  }

  function onInput(value: string) {
    setText(value);
    const now = Date.now();
    if (value && now - lastTyping.current > 3000) {
      lastTyping.current = now;
      void p.client.typing(p.id, true);
    }
  }

  function stateOf(m: MessageView): string {
    if (m.sender_id !== p.me.user_id) return '';
    const others = Object.entries(p.receipts)
      .filter(([user]) => user !== p.me.user_id)
      .map(([, r]) => r);
    if (others.some((r) => r.read >= m.seq)) return 'read';
    if (others.some((r) => r.delivered >= m.seq)) return 'delivered';
    return 'sent';
  }

  const other = p.conv?.type === 'one_to_one' ? p.conv.with[0] : p.request?.username;
  const name = p.conv ? title(p.conv) : p.request ? p.request.username : '';

  return (
    <section class="conversation-view" aria-label={`Conversation with ${name}`}>
      <header class="bar">
        <button type="button" class="back" onClick={p.onBack} aria-label="Back to the list">
          ←
        </button>
        <h2>{name}</h2>
        <div class="row">
          <button type="button" data-testid="call-audio" onClick={() => p.onCall(false)} aria-label="Audio call">
            📞
          </button>
          <button type="button" data-testid="call-video" onClick={() => p.onCall(true)} aria-label="Video call">
            🎥
          </button>
          {other && (
            <>
              <button
                type="button"
                data-testid="safety-number"
                onClick={async () => {
                  try {
                    const r = await j<{ number: string; groups: string[]; level: string | null }>(p.client.safety_number(other));
                    setSafety(r.number);
                    setInfo(`Safety number with ${other}: ${r.groups.join(' ')} (${r.level ?? 'unverified'})`);
                  } catch (e) {
                    p.onError(e);
                  }
                }}
              >
                Safety number
              </button>
              <button
                type="button"
                data-testid="block"
                onClick={async () => {
                  try {
                    await p.client.block(other);
                    setInfo(`${other} is blocked.`);
                  } catch (e) {
                    p.onError(e);
                  }
                }}
              >
                Block
              </button>
            </>
          )}
        </div>
      </header>
      {p.request && (
        <div class="request-banner" role="region" aria-label="Message request">
          <p>{p.request.username} wants to talk with you.</p>
          <button
            type="button"
            data-testid="accept"
            onClick={async () => {
              try {
                await p.client.accept_request(p.request!.username);
                p.onChanged();
              } catch (e) {
                p.onError(e);
              }
            }}
          >
            Accept
          </button>
          <button
            type="button"
            data-testid="decline"
            onClick={async () => {
              try {
                await p.client.decline_request(p.request!.username);
                p.onChanged();
              } catch (e) {
                p.onError(e);
              }
            }}
          >
            Decline
          </button>
        </div>
      )}
      {info && (
        <p class="info" role="status" data-testid="info">
          {info}
          {safety && other && (
            <>
              {' '}
              <button
                type="button"
                data-testid="verify"
                onClick={async () => {
                  try {
                    const r = await j<{ level: string | null }>(p.client.verify(other, safety));
                    setSafety('');
                    setInfo(`${other} is ${r.level ?? 'verified'}.`);
                  } catch (e) {
                    p.onError(e);
                  }
                }}
              >
                The numbers match: mark verified
              </button>
            </>
          )}
        </p>
      )}
      {p.conv?.group && <GroupMembers client={p.client} groupId={p.conv.group.group_id} onError={p.onError} onLeft={p.onBack} />}
      <ol class="messages" aria-live="polite">
        {p.timeline.map((m) =>
          m.event ? (
            <li key={m.id} class="event muted">
              {m.event.by} {m.event.action} {m.event.user}
            </li>
          ) : (
            <li key={m.id} class={`message ${m.sender_id === p.me.user_id ? 'mine' : ''}`} data-testid="message" data-state={stateOf(m)} data-id={m.id}>
              <span class="sender">{m.sender}</span>
              {m.reply_to && <span class="reply muted">↩ {quote(p.timeline, m.reply_to)}</span>}
              {m.file && !m.deleted ? (
                <FileView client={p.client} message={m} onError={p.onError} />
              ) : (
                <span class="text">{m.deleted ? <em>message deleted</em> : m.text ?? <em>{m.undecryptable ?? 'cannot decrypt'}</em>}</span>
              )}
              {m.edited && !m.deleted && <span class="muted"> (edited)</span>}
              {m.expires_at && <span class="muted" title={m.expires_at}> ⏱</span>}
              <span class="meta muted">
                {new Date(m.sent_at).toLocaleTimeString()} {stateOf(m) && <span data-testid="message-state">{stateOf(m)}</span>}
              </span>
              {Object.entries(m.reactions).length > 0 && (
                <span class="reactions">
                  {Object.entries(m.reactions).map(([emoji, who]) => (
                    <span key={emoji} title={who.join(', ')}>
                      {emoji} {who.length}
                    </span>
                  ))}
                </span>
              )}
              {!m.deleted && (
                <span class="actions">
                  <button type="button" onClick={() => setReplyTo(m)} aria-label="Reply">
                    Reply
                  </button>
                  <button type="button" onClick={() => void p.client.react(m.id, '👍').then(p.onChanged, p.onError)} aria-label="React with thumbs up">
                    👍
                  </button>
                  <button
                    type="button"
                    aria-label="Check the ledger proof"
                    onClick={async () => {
                      try {
                        const r = await j<{ verdict: { valid: boolean; batch_id?: string; root?: string; reason?: string } }>(p.client.verify_proof(m.id));
                        setInfo(r.verdict.valid ? `In the ledger: batch ${r.verdict.batch_id}, root ${r.verdict.root}` : `Proof invalid: ${r.verdict.reason}`);
                      } catch (e) {
                        setInfo(errorOf(e).message);
                      }
                    }}
                  >
                    Proof
                  </button>
                  {m.sender_id === p.me.user_id && (
                    <>
                      <button type="button" onClick={() => { setEditing(m); setText(m.text ?? ''); }} aria-label="Edit">
                        Edit
                      </button>
                      <button type="button" onClick={() => void p.client.delete(m.id).then(p.onChanged, p.onError)} aria-label="Delete">
                        Delete
                      </button>
                    </>
                  )}
                </span>
              )}
            </li>
          ),
        )}
      </ol>
      <div ref={end} />
      <p class="typing muted" data-testid="typing" aria-live="polite">
        {p.typing.length > 0 ? `${p.typing.join(', ')} ${p.typing.length > 1 ? 'are' : 'is'} typing…` : ''}
      </p>
      {(replyTo || editing) && (
        <p class="muted">
          {editing ? 'Editing' : `Replying to ${replyTo!.sender}`}{' '}
          <button type="button" class="link" onClick={() => { setReplyTo(null); setEditing(null); setText(''); }}>
            cancel
          </button>
        </p>
      )}
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <label class="grow">
          <span class="sr-only">Message</span>
          <textarea
            data-testid="compose"
            rows={1}
            placeholder="Message (Enter to send, @name to mention)"
            value={text}
            onInput={(e) => onInput(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) {
                e.preventDefault();
                void send();
              }
            }}
          />
        </label>
        <label>
          <span class="sr-only">Self-destruct</span>
          <select data-testid="expires" value={expires} onChange={(e) => setExpires(Number(e.currentTarget.value))} title="Self-destruct timer">
            <option value={0}>no timer</option>
            <option value={30}>30 s</option>
            <option value={300}>5 min</option>
            <option value={3600}>1 h</option>
            <option value={86400}>1 day</option>
          </select>
        </label>
        <label class="attach" title="Attach a file">
          <span class="sr-only">Attach a file</span>📎
          <input
            type="file"
            data-testid="attach"
            class="sr-only"
            onChange={async (e) => {
              const input = e.currentTarget;
              const file = input.files?.[0];
              if (!file) return;
              try {
                setUpload(`${file.name}: 0%`);
                await sendFile(p.client, p.id, file, (sent, total) => setUpload(`${file.name}: ${total ? Math.floor((sent * 100) / total) : 100}%`));
                setUpload('');
                p.onChanged();
              } catch (err) {
                setUpload('');
                p.onError(err);
              } finally {
                input.value = '';
              }
            }}
          />
        </label>
        <button data-testid="send" type="submit">
          Send
        </button>
      </form>
      {upload && (
        <p class="muted" role="status" data-testid="upload-progress">
          Uploading {upload}
        </p>
      )}
    </section>
  );
}

function quote(timeline: MessageView[], id: string): string {
  const m = timeline.find((x) => x.id === id);
  return m ? `${m.sender}: ${(m.text ?? '').slice(0, 60)}` : 'a message';
}

function CallPanel({ view, session, onClose, onError }: { view: CallView; session: CallSession | null; onClose: () => void; onError: (e: unknown) => void }) {
  const remote = useRef<HTMLVideoElement>(null);
  const local = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    if (remote.current && session && remote.current.srcObject !== session.remote) remote.current.srcObject = session.remote;
    if (local.current && session?.local && local.current.srcObject !== session.local) local.current.srcObject = session.local;
  });
  const over = ['ended', 'missed', 'declined'].includes(view.call.status);
  return (
    <section class="call" aria-label="Call">
      <p>
        {view.call.call_type} call · <span data-testid="call-state">{view.call.status}</span> · peer{' '}
        <span data-testid="peer-state">{view.peerState}</span> · received <span data-testid="inbound-bytes">{view.inboundBytes}</span> bytes
        {view.call.duration_seconds != null && <> · <span data-testid="call-duration">{view.call.duration_seconds}</span> s</>}
      </p>
      <div class="videos">
        <video ref={remote} autoplay playsInline aria-label="Remote video" />
        <video ref={local} autoplay playsInline muted aria-label="Your camera" />
      </div>
      <div class="row">
        {view.incoming && view.call.status === 'ringing' && (
          <>
            <button type="button" data-testid="answer" onClick={() => void session?.answer().catch(onError)}>
              Answer
            </button>
            <button type="button" data-testid="decline-call" onClick={() => void session?.decline().catch(onError)}>
              Decline
            </button>
          </>
        )}
        {!over && (
          <>
            <button type="button" aria-pressed={view.muted} onClick={() => session?.toggleMute()}>
              {view.muted ? 'Unmute' : 'Mute'}
            </button>
            {view.call.call_type === 'video' && (
              <button type="button" aria-pressed={view.cameraOff} onClick={() => session?.toggleCamera()}>
                {view.cameraOff ? 'Camera on' : 'Camera off'}
              </button>
            )}
            <button type="button" data-testid="hang-up" class="danger" onClick={() => void session?.hangUp().catch(onError)}>
              Hang up
            </button>
          </>
        )}
        {over && (
          <button type="button" onClick={onClose}>
            Close
          </button>
        )}
      </div>
    </section>
  );
}

interface Device {
  device_id: string;
  name: string;
  platform: string;
}

function Settings({ client, me, onLogout, onError }: { client: Client; me: Whoami; onLogout: () => void; onError: (e: unknown) => void }) {
  const [devices, setDevices] = useState<Device[]>([]);
  const [blocks, setBlocks] = useState<{ username: string }[]>([]);
  const [sessions, setSessions] = useState<{ session_id: string; device_id: string; current?: boolean }[]>([]);
  async function load() {
    try {
      setDevices(await j<Device[]>(client.devices()));
      setSessions(await j<{ session_id: string; device_id: string; current?: boolean }[]>(client.sessions()));
      setBlocks(await j<{ username: string }[]>(client.blocks()));
    } catch (e) {
      onError(e);
    }
  }
  useEffect(() => void load(), []);
  return (
    <section class="settings" aria-label="Settings">
      <h2>Devices</h2>
      <ul class="list" data-testid="devices">
        {devices.map((d) => (
          <li key={d.device_id}>
            {d.name} ({d.platform}) {d.device_id === me.device_id ? <strong>this device</strong> : (
              <button type="button" onClick={() => void client.revoke_device(d.device_id).then(load, onError)}>
                Revoke
              </button>
            )}
          </li>
        ))}
      </ul>
      <h2>Sessions</h2>
      <ul class="list" data-testid="sessions">
        {sessions.map((x) => (
          <li key={x.session_id}>
            session {x.session_id.slice(0, 8)}… of device {x.device_id.slice(0, 8)}…{' '}
            {x.device_id === me.device_id ? (
              <strong>this device</strong>
            ) : (
              <button type="button" onClick={() => void client.revoke_session(x.session_id).then(load, onError)}>
                End
              </button>
            )}
          </li>
        ))}
      </ul>
      <h2>Blocked</h2>
      <ul class="list">
        {blocks.map((b) => (
          <li key={b.username}>
            {b.username}{' '}
            <button type="button" onClick={() => void client.unblock(b.username).then(load, onError)}>
              Unblock
            </button>
          </li>
        ))}
      </ul>
      <p class="muted">Device {me.device_id}</p>
      <button type="button" data-testid="logout" class="danger" onClick={onLogout}>
        Log out (erase this device)
      </button>
    </section>
  );
}

function FileView({ client, message, onError }: { client: Client; message: MessageView; onError: (e: unknown) => void }) {
  const file = message.file!;
  const [thumb, setThumb] = useState<string | null>(null);
  useEffect(() => {
    if (file.mime_type.startsWith('image/')) void thumbnailUrl(client, message.id).then(setThumb, () => setThumb(null));
  }, [message.id]);
  return (
    <span class="file">
      {thumb && <img data-testid="thumbnail" src={thumb} alt={`Preview of ${file.name}`} />}
      <button type="button" class="link" data-testid="download" onClick={() => void saveFile(client, message.id, file.name, file.mime_type).catch(onError)}>
        📎 {file.name} ({file.size} bytes)
      </button>
    </span>
  );
}

interface GroupView {
  group_id: string;
  name: string;
  members: { user_id: string; username: string; role: string }[];
}

function GroupMembers({ client, groupId, onError, onLeft }: { client: Client; groupId: string; onError: (e: unknown) => void; onLeft: () => void }) {
  const [group, setGroup] = useState<GroupView | null>(null);
  const [name, setName] = useState('');
  async function load() {
    try {
      const all = await j<GroupView[]>(client.groups());
      setGroup(all.find((g) => g.group_id === groupId) ?? null);
    } catch (e) {
      onError(e);
    }
  }
  useEffect(() => void load(), [groupId]);
  if (!group) return null;
  return (
    <details class="members">
      <summary>Members ({group.members.length})</summary>
      <ul class="list">
        {group.members.map((m) => (
          <li key={m.user_id}>
            {m.username} <span class="muted">{m.role}</span>{' '}
            <button type="button" onClick={() => void client.remove_from_group(groupId, m.username).then(load, onError)} aria-label={`Remove ${m.username}`}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form
        class="row"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await client.add_to_group(groupId, name);
            setName('');
            await load();
          } catch (err) {
            onError(err);
          }
        }}
      >
        <label class="grow">
          <span class="sr-only">Username to add</span>
          <input placeholder="Username to add" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        </label>
        <button type="submit">Add</button>
      </form>
      <button type="button" class="danger" onClick={() => void client.leave_group(groupId).then(onLeft, onError)}>
        Leave the group
      </button>
    </details>
  );
}
