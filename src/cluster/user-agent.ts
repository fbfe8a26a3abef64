/**
 * The User-Agent of every request to the apiserver, `affinity-relocator/<version> (<component>)`, so that
 * a cluster admin reading the audit log can tell which part of us made a request (who deleted a pod).
 * Free of client-node, like ./http.ts: the Lambdas bundle it.
 */
import pkg from '../../package.json' with { type: 'json' };

/** lambda: the functions (EKS token); forwarder: its Deployment; local: local mode and the demo; cli: status, plan, relocate. */
export type Component = 'lambda' | 'forwarder' | 'local' | 'cli';

export const userAgent = (component: Component): string => `affinity-relocator/${pkg.version} (${component})`;

/** For a KubeAccess that names no component. */
export const DEFAULT_USER_AGENT = `affinity-relocator/${pkg.version}`;
