/**
 * A client-node KubeConfig whose every request carries our User-Agent (./user-agent.ts): requests of
 * ./http.ts and Watch (both through applyToHTTPSOptions) and of the generated API clients such as the
 * forwarder's Lease client (through applySecurityAuthentication). Both are the public authentication
 * methods every request passes; the header rides along as the Authorization header does. Without it,
 * client-node sends node-fetch's default and ./http.ts none.
 */
import type https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { type Component, userAgent } from './user-agent.js';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

/** A view of `kc` (its settings, authenticators and agents are kc's own) that labels every request. */
export function withUserAgent(kc: KubeConfig, component: Component): KubeConfig {
  const ua = userAgent(component);
  const view = Object.create(kc) as KubeConfig;
  // Called with `this` = the view, so that client-node's own calls between its methods (applyToFetchOptions
  // calls applyToHTTPSOptions; makeApiClient passes `this` as the authenticator) come back here.
  const applyToHTTPSOptions = kc.applyToHTTPSOptions;
  const applySecurityAuthentication = kc.applySecurityAuthentication;
  Object.assign(view, {
    async applyToHTTPSOptions(this: KubeConfig, opts: https.RequestOptions) {
      await applyToHTTPSOptions.call(this, opts);
      opts.headers = { ...opts.headers, 'User-Agent': ua };
    },
    async applySecurityAuthentication(this: KubeConfig, context: RequestContext) {
      await applySecurityAuthentication.call(this, context);
      context.setHeaderParam('User-Agent', ua);
    },
  });
  return view;
}
