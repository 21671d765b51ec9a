// Verifies a Zynk VC-JWT with tools no one at Zynk wrote: did-jwt-vc (the Decentralized Identity
// Foundation's VC-JWT library) resolving the issuer's did:key with key-did-resolver.
//
//   node tools/verify-vc.mjs JWT [EXPECTED_ISSUER]
//
// Prints {"verified": true, "issuer", "subject", "credentialSubject", "types"} and exits 0 when
// the credential verifies (signature, EdDSA, nbf/exp, VC Data Model 1.1 shape, and the issuer
// when given); prints {"verified": false, "error"} and exits 1 otherwise.
import { verifyCredential } from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { getResolver } from 'key-did-resolver';

const [jwt, expectedIssuer] = process.argv.slice(2);
if (!jwt) {
  console.error('usage: node tools/verify-vc.mjs JWT [EXPECTED_ISSUER]');
  process.exit(2);
}
const resolver = new Resolver(getResolver());
try {
  const result = await verifyCredential(jwt, resolver, { policies: { now: Math.floor(Date.now() / 1000) } });
  if (result.jwt !== jwt || result.verifiablePresentation) throw new Error('unexpected result shape');
  const issuer = result.issuer;
  if (expectedIssuer && issuer !== expectedIssuer) {
    throw new Error(`issuer ${issuer}, expected ${expectedIssuer}`);
  }
  if (result.signer?.type !== 'Ed25519VerificationKey2018' && result.signer?.type !== 'Ed25519VerificationKey2020'
      && result.signer?.type !== 'Multikey' && !String(result.signer?.type).includes('Ed25519')) {
    throw new Error(`signed with ${result.signer?.type}, expected an Ed25519 key`);
  }
  console.log(JSON.stringify({
    verified: true,
    issuer,
    subject: result.payload.sub,
    credentialSubject: result.verifiableCredential.credentialSubject,
    types: result.verifiableCredential.type,
    signer: result.signer.id,
  }));
} catch (e) {
  console.log(JSON.stringify({ verified: false, error: String(e?.message ?? e) }));
  process.exit(1);
}
