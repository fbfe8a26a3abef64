/**
 * The Kubernetes objects the relocator reads, typed as they really arrive. client-node's model classes type
 * every timestamp as a Date; our JSON client (src/cluster/http.ts) hands over the apiserver's JSON as is,
 * where timestamps are RFC 3339 strings, while client-node's generated clients (the forwarder's, the
 * tests') turn them into Dates. So a timestamp here is either, and the type says so: code that reads one
 * must go through `new Date(x)` (or test it for presence), which accepts both.
 */
import type * as k from '@kubernetes/client-node';

export type Timestamp = Date | string;

/** `T` with every Date, however deep, widened to a Timestamp. */
export type Json<T> = T extends Date ? Timestamp : T extends readonly (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;

export type Pod = Json<k.V1Pod>;
export type Node = Json<k.V1Node>;
export type Taint = Json<k.V1Taint>;
export type Toleration = Json<k.V1Toleration>;
export type StatefulSet = Json<k.V1StatefulSet>;
export type PersistentVolume = Json<k.V1PersistentVolume>;
export type PersistentVolumeClaim = Json<k.V1PersistentVolumeClaim>;
export type Namespace = Json<k.V1Namespace>;
export type KubeEvent = Json<k.CoreV1Event>;
export type KubeEventList = Json<k.CoreV1EventList>;
export type Affinity = Json<k.V1Affinity>;
export type PodAffinityTerm = Json<k.V1PodAffinityTerm>;
export type LabelSelector = Json<k.V1LabelSelector>;
export type LabelSelectorRequirement = Json<k.V1LabelSelectorRequirement>;
export type NodeSelector = Json<k.V1NodeSelector>;
export type NodeSelectorTerm = Json<k.V1NodeSelectorTerm>;
export type NodeSelectorRequirement = Json<k.V1NodeSelectorRequirement>;
export type NodeCondition = Json<k.V1NodeCondition>;
export type VolumeNodeAffinity = Json<k.V1VolumeNodeAffinity>;
export type OwnerReference = Json<k.V1OwnerReference>;
export type Container = Json<k.V1Container>;
