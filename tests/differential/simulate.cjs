// Reads [{condition, context}] as JSON on stdin; prints one result per case: "Allowed",
// "ImplicitlyDenied", ... or "error: ..." -- @cloud-copilot/iam-simulate's answer for an
// identity-policy Allow of s3:GetObject carrying that Condition (no other policy involved), so
// "Allowed" means the simulator found the Condition to match.
const { runSimulation } = require("@cloud-copilot/iam-simulate");

async function one({ condition, context }) {
  const statement = { Effect: "Allow", Action: "s3:GetObject", Resource: "*" };
  if (condition !== null) statement.Condition = condition;
  const result = await runSimulation(
    {
      request: {
        principal: "arn:aws:iam::222222222222:role/sync",
        action: "s3:GetObject",
        resource: { resource: "arn:aws:s3:::bucket/key", accountId: "222222222222" },
        contextVariables: context,
      },
      identityPolicies: [{ name: "p", policy: { Version: "2012-10-17", Statement: [statement] } }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (result.resultType === "error") return "error: " + JSON.stringify(result.errors);
  return result.overallResult;
}

require("./batch.cjs")(one);
