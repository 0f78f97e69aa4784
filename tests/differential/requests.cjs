// Reads [{principal, action, resource, accountId, context, identity, resourcePolicy}] as JSON on
// stdin; prints @cloud-copilot/iam-simulate's overall result per case ("Allowed",
// "ImplicitlyDenied", "ExplicitlyDenied", or "error: ..."). Test oracle for
// tests/test_evaluator_differential.py: whole requests (identity + resource policy), no SCPs.
const { runSimulation } = require("@cloud-copilot/iam-simulate");

async function one(c) {
  const simulation = {
    request: {
      principal: c.principal,
      action: c.action,
      resource: { resource: c.resource, accountId: c.accountId },
      contextVariables: c.context,
    },
    identityPolicies: [{ name: "identity", policy: c.identity }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
  if (c.resourcePolicy) simulation.resourcePolicy = c.resourcePolicy;
  const result = await runSimulation(simulation, {});
  if (result.resultType === "error") return "error: " + JSON.stringify(result.errors);
  return result.overallResult;
}

require("./batch.cjs")(one);
