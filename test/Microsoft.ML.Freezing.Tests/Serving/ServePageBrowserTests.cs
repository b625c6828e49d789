// Copyright (c) 2026 Microsoft.ML.Freezing contributors. Licensed under the MIT License (see LICENSE).

using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace Microsoft.ML.Freezing.Tests.Serving
{
    /// <summary>
    /// The page of <c>serve</c> in a real browser: Debian's headless Chromium, driven by Selenium WebDriver through
    /// Debian's chromedriver (its path given, so Selenium Manager never runs and nothing is downloaded). The test
    /// uploads an image through the page's file input and reads the labels and scores shown; they must equal
    /// <c>/predict</c>'s answer for the same bytes. It saves the screenshot the README shows (docs/serve.png).
    /// Without a usable browser the test is inconclusive, and fails under <c>CI=true</c> (eng/fetch-chromium.sh
    /// installs it).
    /// </summary>
    [TestClass]
    public sealed class ServePageBrowserTests
    {
        private const string Chromium = "/usr/bin/chromium";
        private const string ChromeDriver = "/usr/bin/chromedriver";

        [TestMethod]
        public async Task ThePageShowsTheSameTopThreeAsPredict()
        {
            if (!File.Exists(Chromium) || !File.Exists(ChromeDriver))
                Unavailable($"{Chromium} or {ChromeDriver} is missing; run eng/fetch-chromium.sh");

            string dir = Path.Combine(Path.GetTempPath(), "frozen-resnet-browser-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            try
            {
                byte[] image = ServingModels.Image("horizontal", seed: 31, size: 96);
                string file = Path.Combine(dir, "stripes.png");
                File.WriteAllBytes(file, image);
                using var server = ServeProcess.Start(ServingModels.Zip);
                var expected = await ServeApiTests.PostAsync(server, ServeApiTests.Raw(image), HttpStatusCode.OK);

                using var driver = StartBrowser();
                driver.Navigate().GoToUrl(server.Address);
                var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30));
                wait.Until(d => d.FindElement(By.Id("model")).Text.Contains("3 classes", StringComparison.Ordinal));
                driver.FindElement(By.Id("file")).SendKeys(file);
                wait.Until(d => d.FindElement(By.TagName("body")).GetDomAttribute("data-state") is "done" or "error");
                Assert.AreEqual("", driver.FindElement(By.Id("error")).Text, "the page shows an error");

                var shown = driver.FindElements(By.CssSelector("#top li")).Select(li => (
                    Label: li.FindElement(By.ClassName("label")).Text,
                    Text: li.FindElement(By.ClassName("score")).Text,
                    Score: double.Parse(li.GetDomAttribute("data-score"), CultureInfo.InvariantCulture))).ToArray();
                var top = expected.GetProperty("top").EnumerateArray().ToArray();
                Assert.AreEqual(top.Length, shown.Length, expected.ToString());
                for (int k = 0; k < top.Length; k++)
                {
                    double score = top[k].GetProperty("score").GetDouble();
                    Assert.AreEqual(top[k].GetProperty("label").GetString(), shown[k].Label);
                    Assert.AreEqual(score, shown[k].Score, 1e-6);
                    double percent = double.Parse(shown[k].Text.TrimEnd('%', ' '), CultureInfo.InvariantCulture);
                    Assert.AreEqual(100 * score, percent, 0.051, shown[k].Text);
                }
                StringAssert.Contains(driver.FindElement(By.Id("predicted")).Text,
                    expected.GetProperty("predictedLabel").GetString());
                var preview = driver.FindElement(By.Id("preview"));
                Assert.IsTrue(preview.GetDomProperty("naturalWidth") == "96", "the chosen image is not shown");

                string screenshot = Path.Combine(RepoPaths.Root, "docs", "serve.png");
                ((ITakesScreenshot)driver).GetScreenshot().SaveAsFile(screenshot);
                Console.WriteLine($"Screenshot: {screenshot}");
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        private static ChromeDriver StartBrowser()
        {
            // The driver's folder and file name are given: Selenium Manager (which would download one) never runs.
            var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver),
                Path.GetFileName(ChromeDriver));
            service.HideCommandPromptWindow = true;
            service.SuppressInitialDiagnosticInformation = true;
            var options = new ChromeOptions { BinaryLocation = Chromium };
            // --no-sandbox: tests run as root on CI, where Chromium's sandbox refuses to start.
            options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=760,640", "--hide-scrollbars");
            try
            {
                return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
            }
            catch (WebDriverException e)
            {
                service.Dispose();
                Unavailable($"headless Chromium did not start: {e.Message}");
                throw;
            }
        }

        private static void Unavailable(string message)
            => Assets.CannotRun($"The browser test cannot run: {message}.");
    }
}
