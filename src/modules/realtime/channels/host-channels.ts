import type { HostChannelMode } from '../../../config/app-config';
import type { ChannelPolicy } from './channel-policy.registry';
import type { ChannelTokenVerifier } from './channel-token.verifier';
import type { SubscribeProxyClient } from './subscribe-proxy.client';

/**
 * The policy of a channel prefix the host app owns (`activity:`, `booking:`, `venue:`...), which
 * Tether cannot judge itself (Centrifugo's two ways). With `token`, a subscription token sent
 * for the channel decides; with `proxy`, the host backend is asked. With both, a token the
 * client sends decides (a bad one is refused with its reason, not passed to the proxy) and the
 * proxy answers for clients that send none. With `public`, any member of the tenant may join
 * (rooms are tenant-prefixed): feeds such as `venue_updates` or `promotions:<venueId>`.
 */
export function hostChannelPolicy(modes: HostChannelMode[], tokens: ChannelTokenVerifier, proxy: SubscribeProxyClient): ChannelPolicy {
  if (modes.includes('public')) return () => true;
  const byToken = modes.includes('token');
  const byProxy = modes.includes('proxy');
  return (user, channel, { token }) => {
    if (byToken && (token || !byProxy)) return tokens.check(user, channel.name, token);
    return proxy.ask(user, channel.name);
  };
}
