/**
 * The CDK app: `npx cdk synth -c stage=dev|staging|prod` builds the one gateway stack of that
 * stage and holds it to cdk-nag's AwsSolutions rules, so a finding nobody acknowledged with a
 * reason fails the synth.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GatewayStack, gatewayStackName } from '@infra/gateway-stack';
import { resolveStage } from '@infra/stage-config';

const app = new App();
const stage = resolveStage(app.node.tryGetContext('stage'));

// No `env`: the stack stays environment-agnostic, so it synthesizes offline, with no account,
// no credentials and no lookups; account and region are resolved by CloudFormation at deploy.
new GatewayStack(app, gatewayStackName(stage), { stage });

// cdk-nag v3 runs as a policy validation plugin, no longer as an aspect.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
