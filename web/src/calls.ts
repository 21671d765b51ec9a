// Audio/video calls: the call record goes through the server (ringing, in_progress, ended);
// the WebRTC signalling (SDP and ICE candidates) goes end-to-end encrypted through the SDK
// (Olm to-device messages); media flows through the TURN relay the server hands credentials
// for (relay only, so peers never learn each other's addresses).
import { Call, CallSignal, Client, j } from './zynk';

export interface CallView {
  call: Call;
  incoming: boolean;
  peerState: string;
  inboundBytes: number;
  muted: boolean;
  cameraOff: boolean;
}

export class CallSession {
  pc: RTCPeerConnection | undefined;
  local: MediaStream | undefined;
  remote = new MediaStream();
  private pendingOffer: string | undefined;
  private pendingCandidates: RTCIceCandidateInit[] = [];
  private statsTimer: number | undefined;
  view: CallView;

  constructor(
    private client: Client,
    private me: string,
    call: Call,
    incoming: boolean,
    private onChange: (view: CallView) => void,
  ) {
    this.view = { call, incoming, peerState: 'new', inboundBytes: 0, muted: false, cameraOff: false };
  }

  get id(): string {
    return this.view.call.call_id;
  }

  private others(): string[] {
    return this.view.call.participants.map((p) => p.user_id).filter((u) => u !== this.me);
  }

  private changed(patch: Partial<CallView>) {
    this.view = { ...this.view, ...patch };
    this.onChange(this.view);
  }

  update(call: Call) {
    this.changed({ call });
    if (['ended', 'missed', 'declined'].includes(call.status)) this.close();
  }

  private async signal(signal: CallSignal) {
    await j<string[]>(this.client.send_call_signal(JSON.stringify(this.others()), JSON.stringify(signal)));
  }

  private async connect() {
    const turn = await j<{ urls: string[]; username: string; credential: string }>(this.client.turn_credentials());
    const pc = new RTCPeerConnection({
      iceServers: [{ urls: turn.urls, username: turn.username, credential: turn.credential }],
      iceTransportPolicy: 'relay',
    });
    this.pc = pc;
    pc.onicecandidate = (e) => {
      if (e.candidate) {
        void this.signal({
          type: 'candidate',
          call_id: this.id,
          candidate: e.candidate.candidate,
          sdp_mid: e.candidate.sdpMid,
          sdp_m_line_index: e.candidate.sdpMLineIndex,
        });
      }
    };
    pc.onconnectionstatechange = () => this.changed({ peerState: pc.connectionState });
    pc.ontrack = (e) => {
      this.remote.addTrack(e.track);
      this.changed({});
    };
    const video = this.view.call.call_type === 'video';
    this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    for (const track of this.local.getTracks()) pc.addTrack(track, this.local);
    this.statsTimer = window.setInterval(() => void this.stats(), 1000);
    return pc;
  }

  private async stats() {
    if (!this.pc) return;
    let bytes = 0;
    (await this.pc.getStats()).forEach((report) => {
      if (report.type === 'inbound-rtp') bytes += report.bytesReceived ?? 0;
    });
    if (bytes !== this.view.inboundBytes) this.changed({ inboundBytes: bytes });
  }

  /// The caller: offer to every device of the other participants.
  async start() {
    const pc = await this.connect();
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await this.signal({ type: 'offer', call_id: this.id, sdp: offer.sdp ?? '' });
  }

  /// The callee: answer the call record, then the offer (which may still be on its way).
  async answer() {
    const call = await j<Call>(this.client.answer_call(this.id));
    this.changed({ call });
    const pc = await this.connect();
    if (this.pendingOffer) await this.acceptOffer(pc, this.pendingOffer);
  }

  private async acceptOffer(pc: RTCPeerConnection, sdp: string) {
    this.pendingOffer = undefined;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    for (const c of this.pendingCandidates.splice(0)) await pc.addIceCandidate(c);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this.signal({ type: 'answer', call_id: this.id, sdp: answer.sdp ?? '' });
  }

  async onSignal(signal: CallSignal) {
    const pc = this.pc;
    switch (signal.type) {
      case 'offer':
        if (pc && !pc.remoteDescription) await this.acceptOffer(pc, signal.sdp);
        else this.pendingOffer = signal.sdp;
        break;
      case 'answer':
        if (pc && !pc.remoteDescription) {
          await pc.setRemoteDescription({ type: 'answer', sdp: signal.sdp });
          for (const c of this.pendingCandidates.splice(0)) await pc.addIceCandidate(c);
        }
        break;
      case 'candidate': {
        const candidate = {
          candidate: signal.candidate,
          sdpMid: signal.sdp_mid,
          sdpMLineIndex: signal.sdp_m_line_index,
        };
        if (pc && pc.remoteDescription) await pc.addIceCandidate(candidate);
        else this.pendingCandidates.push(candidate);
        break;
      }
      case 'hangup':
        this.close();
        break;
    }
  }

  toggleMute() {
    const muted = !this.view.muted;
    this.local?.getAudioTracks().forEach((t) => (t.enabled = !muted));
    this.changed({ muted });
  }

  toggleCamera() {
    const cameraOff = !this.view.cameraOff;
    this.local?.getVideoTracks().forEach((t) => (t.enabled = !cameraOff));
    this.changed({ cameraOff });
  }

  async hangUp() {
    try {
      await this.signal({ type: 'hangup', call_id: this.id });
    } catch {
      /* the record below still ends the call */
    }
    const call = await j<Call>(this.client.end_call(this.id));
    this.update(call);
  }

  async decline() {
    const call = await j<Call>(this.client.decline_call(this.id));
    this.update(call);
  }

  close() {
    if (this.statsTimer) window.clearInterval(this.statsTimer);
    this.statsTimer = undefined;
    this.local?.getTracks().forEach((t) => t.stop());
    if (this.pc && this.pc.connectionState !== 'closed') {
      this.pc.close();
      this.changed({ peerState: 'closed' });
    }
  }
}
